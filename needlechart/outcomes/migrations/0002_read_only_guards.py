"""Database triggers: measurements under a signed assessment or session are read-only."""

from django.db import migrations

from needlechart.db import guards

GUARDS = [
    guards.child_of_signed("outcomes_observation", "assessment_id", "charting_assessment"),
    guards.child_of_signed("outcomes_observation", "session_id", "charting_needlingsession"),
]


class Migration(migrations.Migration):
    dependencies = [("outcomes", "0001_initial"), ("charting", "0002_read_only_guards")]

    operations = [
        migrations.RunPython(
            lambda apps, editor: guards.install(editor, GUARDS),
            lambda apps, editor: guards.uninstall(editor, GUARDS),
        )
    ]
