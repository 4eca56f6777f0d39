"""Database triggers: plan versions, their goals and therapies, and discharge summaries are
never updated in place (a change to a plan is a new version; a discharge takes addenda)."""

from django.db import migrations

from needlechart.db import guards

GUARDS = [
    guards.append_only("outcomes_careplan"),
    guards.append_only("outcomes_plangoal"),
    guards.append_only("outcomes_plantherapy"),
    guards.append_only("outcomes_discharge"),
]


class Migration(migrations.Migration):
    dependencies = [("outcomes", "0003_observation_entered_in_error_reason_careplan_and_more")]

    operations = [
        migrations.RunPython(
            lambda apps, editor: guards.install(editor, GUARDS),
            lambda apps, editor: guards.uninstall(editor, GUARDS),
        )
    ]
