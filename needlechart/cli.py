"""The `needlechart` command: Django's manage.py plus needlechart's own commands."""

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "needlechart.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    argv = argv if argv is not None else sys.argv
    try:
        execute_from_command_line(argv)
    except ImproperlyConfigured as error:
        if "--traceback" in argv:
            raise
        # A setting the environment gets wrong (SECURE_COOKIES=ture): one line naming it.
        sys.exit(f"ImproperlyConfigured: {error}")


if __name__ == "__main__":
    main()
