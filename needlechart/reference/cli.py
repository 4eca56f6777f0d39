"""Helpers shared by the knowledge commands: JSON input and one-line errors."""

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from needlechart import knowledge


def read_json(path: str, what: str) -> Any:
    """Parse a JSON file ('-' for standard input), or stop with one line saying why."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text("utf-8")
    except OSError as error:
        raise CommandError(f"cannot read the {what} file {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise CommandError(f"the {what} file {path} is not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CommandError(f"the {what} file {path} is not valid JSON: {error}") from None
    except RecursionError:
        raise CommandError(f"the {what} file {path} is nested too deeply") from None


def knowledge_errors(error: Exception) -> CommandError:
    """An engine's refusal as a command error naming what it did not accept."""
    if isinstance(error, knowledge.UnknownCode | knowledge.InvalidInput):
        return CommandError(str(error))
    raise error


def dump(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)
