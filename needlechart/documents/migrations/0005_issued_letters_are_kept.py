"""Database triggers: a letter's wording is never changed in place, nor a signed letter."""

from django.db import migrations

from needlechart.db import guards

GUARDS = [
    guards.append_only("documents_lettertemplate"),
    guards.frozen_when_signed("documents_letter"),
]


class Migration(migrations.Migration):
    dependencies = [("documents", "0004_letters")]

    operations = [
        migrations.RunPython(
            lambda apps, editor: guards.install(editor, GUARDS),
            lambda apps, editor: guards.uninstall(editor, GUARDS),
        )
    ]
