"""Every existing clinic gets its catalogue now (texts and needles), which reading the
catalogue used to create on first view."""

from decimal import Decimal

from django.db import migrations

NEEDLES = [("0.16", 15), ("0.20", 30), ("0.25", 25), ("0.25", 40), ("0.30", 50),
           ("0.30", 60), ("0.30", 75)]  # fmt: skip


def start_catalogues(apps, schema_editor):
    from needlechart import knowledge

    Clinic = apps.get_model("accounts", "Clinic")
    Template = apps.get_model("charting", "DocumentTemplate")
    Needle = apps.get_model("charting", "NeedleSize")
    for clinic in Clinic.objects.all():
        for kind in ("consent", "aftercare"):
            if not Template.objects.filter(clinic=clinic, kind=kind).exists():
                default = knowledge.default_document(kind)
                Template.objects.create(
                    clinic=clinic, kind=kind, version=1, title=default.title, body=default.body
                )
        if not Needle.objects.filter(clinic=clinic).exists():
            Needle.objects.bulk_create(
                [Needle(clinic=clinic, diameter_mm=Decimal(d), length_mm=n) for d, n in NEEDLES]
            )


class Migration(migrations.Migration):
    dependencies = [("charting", "0007_note_boards_expect"), ("accounts", "0004_credential_jurisdiction_consent_training")]

    operations = [migrations.RunPython(start_catalogues, migrations.RunPython.noop)]
