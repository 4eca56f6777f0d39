import django.db.models.deletion
from django.db import migrations, models

from needlechart.db import guards
from needlechart.db.statistics import analysed_for

# The triggers that keep each check-in's patient (db/guards.py), installed before the fill.
keep_check_in_patient, drop_keeping = guards.kept_from_now(guards.check_in_patient_kept)

# The planner's statistics taken at once for the new index, where the database keeps them.
refresh_statistics = analysed_for("portal_checkin")


def fill_check_in_patient(apps, schema_editor):
    # Each check-in's patient: its session's episode's.
    schema_editor.execute(
        "UPDATE portal_checkin SET patient_id = (SELECT e.patient_id"
        " FROM charting_needlingsession s JOIN patients_episodeofcare e ON e.id = s.episode_id"
        " WHERE s.id = portal_checkin.session_id)"
    )


class Migration(migrations.Migration):
    """Each check-in keeps its patient, so the patient header reads a patient's open red
    flags, the newest first, along an index rather than through every session of the
    patient and every check-in answered after them."""

    dependencies = [
        ("portal", "0004_effect_patient_kept"),
    ]

    operations = [
        migrations.AddField(
            model_name="checkin",
            name="patient",
            field=models.ForeignKey(
                db_index=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="patients.patient",
            ),
        ),
        migrations.RunPython(keep_check_in_patient, drop_keeping),
        migrations.RunPython(fill_check_in_patient, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="checkin",
            index=models.Index(
                condition=models.Q(("alert_acknowledged_at__isnull", True), models.Q(("red_flags", []), _negated=True)),
                fields=["patient", "-answered_at", "-id"],
                name="check_in_open_red_flags_of",
            ),
        ),
        migrations.RunPython(refresh_statistics, migrations.RunPython.noop),
    ]
