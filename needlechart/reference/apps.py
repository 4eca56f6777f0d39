from django.apps import AppConfig


class ReferenceConfig(AppConfig):
    name = "needlechart.reference"
    label = "reference"
    verbose_name = "Clinical reference"

    def ready(self) -> None:
        from django.conf import settings

        from needlechart import knowledge

        # A clinic's licensed questionnaires, added as FHIR Questionnaire JSON files.
        if settings.QUESTIONNAIRES_DIR and settings.QUESTIONNAIRES_DIR.is_dir():
            knowledge.load_questionnaires(settings.QUESTIONNAIRES_DIR)
