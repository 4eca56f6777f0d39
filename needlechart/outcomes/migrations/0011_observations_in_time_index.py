import importlib

from django.db import migrations, models

# The planner's statistics taken at once for the new index, where the database keeps them.
refresh_statistics = importlib.import_module(
    "needlechart.charting.migrations.0012_home_page_indexes"
).refresh_statistics


class Migration(migrations.Migration):
    dependencies = [
        ("charting", "0013_session_episode_of_id"),
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
