"""Database triggers: who signs a session or an assessment, writes an addendum, witnesses a
consent or discharges an episode is a person, never a service account."""

from django.db import migrations

from needlechart.db import guards

GUARDS = [
    guards.signed_by_a_person("charting_needlingsession", "signed_by_id"),
    guards.signed_by_a_person("charting_assessment", "signed_by_id"),
    guards.signed_by_a_person("charting_addendum", "author_id"),
    guards.signed_by_a_person("charting_consent", "witnessed_by_id"),
    guards.signed_by_a_person("outcomes_discharge", "discharged_by_id"),
]


def forwards(apps, editor) -> None:
    # An earlier migration that rebuilt one of these tables put back the guards naming it,
    # these among them (guards.rebuilding): they are written again, not twice.
    guards.uninstall(editor, GUARDS)
    guards.install(editor, GUARDS)


class Migration(migrations.Migration):
    dependencies = [
        ("outcomes", "0006_episode_summary"),
        ("charting", "0010_insertion_session_muscle"),
        ("accounts", "0010_clinic_logo"),
    ]

    operations = [
        migrations.RunPython(forwards, lambda apps, editor: guards.uninstall(editor, GUARDS))
    ]
