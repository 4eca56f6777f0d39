"""The `needlechart` command: Django's manage.py plus needlechart's own commands."""

import importlib
import os
import sys

# Commands that read the knowledge package only: they run without setting Django up (no
# models, no database, no pages), so that a clinician's question is answered at once.
KNOWLEDGE_COMMANDS = ("referral", "screen", "regions", "muscles")


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "needlechart.settings")
    from django.core.exceptions import ImproperlyConfigured

    argv = argv if argv is not None else sys.argv
    try:
        if len(argv) > 1 and argv[1] in KNOWLEDGE_COMMANDS:
            module = importlib.import_module(f"needlechart.reference.management.commands.{argv[1]}")
            module.Command().run_from_argv([os.path.basename(argv[0]), *argv[1:]])
            return
        from django.core.management import execute_from_command_line

        execute_from_command_line(argv)
    except ImproperlyConfigured as error:
        if "--traceback" in argv:
            raise
        # A setting the environment gets wrong (SECURE_COOKIES=ture): one line naming it.
        sys.exit(f"ImproperlyConfigured: {error}")


if __name__ == "__main__":
    main()
