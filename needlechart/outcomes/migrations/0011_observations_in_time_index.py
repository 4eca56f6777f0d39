from django.db import migrations, models


def refresh_statistics(apps, schema_editor):
    """A database whose planner keeps statistics gets them for the new index at once (on
    SQLite, where a bulk load or a benchmark has taken them: without any, it plans by rule
    and uses the index anyway)."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")
            if cursor.fetchone() is None:
                return
        cursor.execute(f"ANALYZE {connection.ops.quote_name('outcomes_observation')}")


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
