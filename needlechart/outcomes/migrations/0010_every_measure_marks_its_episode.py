from django.db import migrations

from needlechart.db import guards

DROP, RESTORE = guards.rebuilding("outcomes_observation")


class Migration(migrations.Migration):
    dependencies = [
        ("outcomes", "0009_episode_summary_events_weeks"),
    ]

    # Every measure now marks its episode's summary, not the NPRS ones only (the episode page
    # keeps the course it shows by the marks): the triggers of the measures put in anew.
    operations = [
        migrations.RunPython(DROP, RESTORE),
        migrations.RunPython(RESTORE, DROP),
    ]
