"""The `needlechart` command: Django's manage.py plus needlechart's own commands."""

import importlib
import os
import sys

# Commands that read the knowledge package only: they run without setting Django up (no
# models, no database, no pages), so that a clinician's question is answered at once.
KNOWLEDGE_COMMANDS = ("referral", "screen", "regions", "muscles")
HELP = ([], ["help"], ["--help"], ["-h"])


def commands() -> dict[str, str]:
    """Each command and the app it comes from, found as Django finds them (the first app in
    INSTALLED_APPS wins a name) but from the apps' folders alone: listing the commands must
    not import every model, as Django's own listing does after setting itself up."""
    settings = importlib.import_module(os.environ["DJANGO_SETTINGS_MODULE"])
    found = {name: "django.core" for name in _commands_of("django.core")}
    for app in reversed(settings.INSTALLED_APPS):
        found.update({name: app for name in _commands_of(app)})
    return found


def _commands_of(package: str) -> list[str]:
    """The commands in a package's management/commands folder (Django's `find_commands`,
    which cannot be imported without the rest of Django's management package)."""
    import importlib.util
    import pkgutil

    # Found from the top package's folder: finding a subpackage's spec would import its
    # parents, and an app's __init__ may import Django (django_otp's does).
    top, _, rest = package.partition(".")
    spec = importlib.util.find_spec(top)
    parts = rest.split(".") if rest else []
    folder = os.path.join(spec.submodule_search_locations[0], *parts, "management", "commands")
    return [
        name
        for _, name, is_package in pkgutil.iter_modules([folder])
        if not is_package and not name.startswith("_")
    ]


def _notice(text: str) -> str:
    """Django's NOTICE style where Django would colour the help (a terminal), plain elsewhere."""
    from django.utils import termcolors

    colours = os.environ.get("DJANGO_COLORS", "")
    if not sys.stdout.isatty() or os.environ.get("NO_COLOR") or colours == "nocolor":
        return text
    palette = (
        termcolors.parse_color_setting(colours) or termcolors.PALETTES[termcolors.DEFAULT_PALETTE]
    )
    notice = palette.get("NOTICE")
    return termcolors.make_style(**notice)(text) if notice else text


def help_text(prog: str) -> str:
    """The text of `needlechart --help`, line for line what Django prints."""
    by_app: dict[str, list[str]] = {}
    for name, app in commands().items():
        label = "django" if app == "django.core" else app.rpartition(".")[-1]
        by_app.setdefault(label, []).append(name)
    lines = [
        "",
        f"Type '{prog} help <subcommand>' for help on a specific subcommand.",
        "",
        "Available subcommands:",
    ]
    for label in sorted(by_app):
        lines += ["", _notice(f"[{label}]")]
        lines += [f"    {name}" for name in sorted(by_app[label])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "needlechart.settings")
    try:
        _run(argv if argv is not None else sys.argv)
        # Written out here, so that a reader gone before the last lines is caught below
        # rather than when the interpreter flushes at exit.
        sys.stdout.flush()
    except BrokenPipeError:
        if not _reader_gone():
            # Another pipe broke (a mail server's connection): a fault, reported as before.
            raise
        # The reader stopped reading (`needlechart chart --all --json | head`): nothing is
        # wrong to report, and nothing more can be written. Python's own advice: point
        # stdout at /dev/null so that the flush at exit raises nothing, and exit with 1.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)


def _reader_gone() -> bool:
    """Whether stdout is a pipe whose reader has closed it: the pipe then reports an error
    to a poll of its writing end."""
    import select

    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return False  # not a file: a test's capture, a closed stream
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))


def _run(argv: list[str]) -> None:
    if len(argv) > 1 and argv[1] in KNOWLEDGE_COMMANDS:
        # Not through Django's management package, which alone costs more than the answer
        # (settings, the database layer, asyncio): the same functions Django runs, and no
        # settings read, so nothing here can be ImproperlyConfigured.
        from needlechart.reference import cli as knowledge_cli
        from needlechart.reference import terminal

        terminal.run(knowledge_cli.COMMANDS[argv[1]], argv)
        return
    from django.core.exceptions import ImproperlyConfigured

    try:
        if argv[1:] in HELP:
            print(help_text(os.path.basename(argv[0])))
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
