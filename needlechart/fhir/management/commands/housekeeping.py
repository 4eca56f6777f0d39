from typing import Any

from needlechart.commands import Command as NeedlechartCommand


class Command(NeedlechartCommand):
    # Here, in the highest app, as it clears what the API and the FHIR layer keep for a while.
    help = (
        "Remove what is kept for a limited time only: the API's answers to retried requests "
        "(after 24 hours; they hold patient data) and the FHIR $export jobs with their files "
        "(after FHIR_EXPORT_HOURS). Run it from cron, e.g. hourly."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        # Imported here: listing or starting the other commands need none of this.
        from needlechart.audit.submissions import answers_expire
        from needlechart.fhir.jobs import jobs_clean

        answers = answers_expire()
        jobs = jobs_clean()
        self.stdout.write(f"removed {answers} expired API answers and {jobs} expired exports")
