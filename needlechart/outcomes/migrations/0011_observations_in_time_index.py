from django.db import migrations, models

from needlechart.db.statistics import analysed_for

# The planner's statistics taken at once for the new index, where the database keeps them.
refresh_statistics = analysed_for("outcomes_observation")


class Migration(migrations.Migration):
    dependencies = [
        ("outcomes", "0010_every_measure_marks_its_episode"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="observation",
            index=models.Index(
                fields=["episode", "recorded_at", "id"], name="observation_episode_time"
            ),
        ),
        migrations.RunPython(refresh_statistics, migrations.RunPython.noop),
    ]
