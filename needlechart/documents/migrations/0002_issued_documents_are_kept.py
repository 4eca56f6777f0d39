"""Database triggers: an issued document is never changed or removed."""

from django.db import migrations

from needlechart.db import guards

GUARDS = [guards.append_only("documents_document")]


class Migration(migrations.Migration):
    dependencies = [("documents", "0001_initial")]

    operations = [
        migrations.RunPython(
            lambda apps, editor: guards.install(editor, GUARDS),
            lambda apps, editor: guards.uninstall(editor, GUARDS),
        )
    ]
