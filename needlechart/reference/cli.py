"""The knowledge commands (referral, screen, regions, muscles) as plain functions.

No Django here: the command line runs them through reference/terminal.py, Django through
the management commands of the same names."""

import json
import sys
from argparse import ArgumentParser, ArgumentTypeError
from pathlib import Path
from typing import Any

from needlechart import knowledge
from needlechart.reference.terminal import Knowledge, Refused, Write

# Input a command refuses (an unknown region, code or muscle, a value out of range, a file
# of the wrong shape) exits with 2 and prints nothing on standard output, like an option
# argparse refuses; a file it cannot read, with 1.
REFUSED = 2


def _refused(message: str) -> Refused:
    return Refused(message, returncode=REFUSED)


def read_json(path: str, what: str) -> Any:
    """Parse a JSON file ('-' for standard input), or stop with one line saying why."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text("utf-8")
    except OSError as error:
        raise Refused(f"cannot read the {what} file {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise _refused(f"the {what} file {path} is not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise _refused(f"the {what} file {path} is not valid JSON: {error}") from None
    except RecursionError:
        raise _refused(f"the {what} file {path} is nested too deeply") from None


def dump(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def _json_option(parser: ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


# --- referral ------------------------------------------------------------------------------


def _pain(argument: str) -> tuple[str, float | None]:
    """'temple-left' or 'temple-left:7' (a region with its pain intensity 0-10)."""
    name, _, intensity = argument.partition(":")
    if not intensity:
        return name, None
    try:
        return name, float(intensity)
    except ValueError:
        raise _refused(
            f"pain intensity for {name} must be a number 0-10, not {intensity!r}"
        ) from None


def _top(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 1000:
        raise ArgumentTypeError(f"must be a whole number from 1 to 1000, not {value!r}")
    return int(value)


def referral_arguments(parser: ArgumentParser) -> None:
    parser.add_argument(
        "regions",
        nargs="+",
        metavar="REGION",
        help="a region id (see `needlechart regions`), optionally with :INTENSITY 0-10",
    )
    parser.add_argument("--top", type=_top, default=10, help="how many muscles (default 10)")
    _json_option(parser)


def referral(options: dict[str, Any], write: Write) -> None:
    pains = [_pain(argument) for argument in options["regions"]]
    names = [name for name, _ in pains]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise _refused(f"region {twice[0]} is given more than once")
    weighted = any(intensity is not None for _, intensity in pains)
    regions = (
        {name: (10.0 if i is None else i) for name, i in pains}
        if weighted
        else [name for name, _ in pains]
    )
    try:
        ranking = knowledge.rank_muscles(regions, top=options["top"])
    except (knowledge.UnknownCode, knowledge.InvalidInput) as error:
        raise _refused(str(error)) from None
    if options["json"]:
        write(dump(ranking.as_json()))
        return
    for warning in ranking.warnings:
        write(f"SCREEN FIRST ({warning.label}): {warning.text}")
        for sign in warning.signs:
            write(f"  - {sign}")
        write(f"  Source: {warning.cited}")
    if not ranking:
        write("No muscle in the catalogue typically refers to these regions.")
    for rank, candidate in enumerate(ranking, start=1):
        side = f" ({candidate.side})" if candidate.side else ""
        write(
            f"{rank:>2}. {candidate.name}{side}  score {candidate.score:.2f}"
            f"  [{candidate.as_json()['why_label'].lower()}]"
        )
        for reason in candidate.reasons:
            write(f"      {reason}")
    # Imported here: at the top it would load the muscle data for every command's --help.
    from needlechart.knowledge.referral import NOTE

    write(NOTE)


# --- screen --------------------------------------------------------------------------------


def _list(data: object, key: str, what: str) -> list:
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise _refused(f'the {what} file must be a JSON object with a list "{key}"')
    for entry in data[key]:
        if not isinstance(entry, dict):
            raise _refused(f"every entry of {key} must be a JSON object, not {entry!r}")
    return data[key]


def screen_arguments(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--factors",
        required=True,
        metavar="FILE",
        help='JSON {"factors": [{"code": "lymphedema", "limb": "arm", "side": "left"}, ...]}',
    )
    parser.add_argument(
        "--plan",
        metavar="FILE",
        help='JSON {"items": [{"muscle": "infraspinatus", "side": "left", '
        '"technique": "dry-needling"}, ...]}; an electrical-stimulation item may name its '
        'paired needle: "lead_to": {"muscle": "deltoid", "side": "left"}',
    )
    _json_option(parser)


def screen(options: dict[str, Any], write: Write) -> None:
    if options["factors"] == "-" and options["plan"] == "-":
        raise Refused("standard input can hold only one of the files; give the other by name")
    factors = _list(read_json(options["factors"], "factors"), "factors", "factors")
    items = _list(read_json(options["plan"], "plan"), "items", "plan") if options["plan"] else []
    try:
        result = knowledge.screen(factors, items)
    except (knowledge.UnknownCode, knowledge.InvalidInput) as error:
        raise _refused(str(error)) from None
    if options["json"]:
        write(dump(result.as_json()))
        return
    write(f"Patient: {result.patient.verdict}")
    for reason in result.patient.reasons:
        write(f"  - {reason.text} [{reason.source}]")
    for item in result.items:
        side = f" {item.item.side}" if item.item.side else ""
        lead = item.item.lead_to
        paired = ""
        if lead:
            paired = f" paired with {lead.muscle}{' ' + lead.side if lead.side else ''}"
        write(f"{item.item.muscle}{side}, {item.item.technique}{paired}: {item.verdict}")
        for reason in item.reasons:
            write(f"  - {reason.text} [{reason.source}]")
        for note in item.notes:
            write(f"  note: {note.text} [{note.source}]")


# --- regions and muscles -------------------------------------------------------------------


def regions(options: dict[str, Any], write: Write) -> None:
    found = knowledge.regions()
    if options["json"]:
        write(dump([region.as_json() for region in found]))
        return
    for region in found:
        write(f"{region.id:<26} {region.view:<5} {region.display}")


def muscles(options: dict[str, Any], write: Write) -> None:
    found = knowledge.muscles()
    if options["json"]:
        write(dump([knowledge.muscle_json(muscle) for muscle in found]))
        return
    for muscle in found:
        risks = ", ".join(s.structure for s in muscle.structures_at_risk) or "-"
        write(f"{muscle.slug:<34} {muscle.area:<16} at risk: {risks}")


COMMANDS = {
    "referral": Knowledge(
        help="Rank the muscles whose typical referral or local zones cover the painful "
        "regions, with the causes to rule out first (screen-first warnings). Typical "
        "patterns suggest where to examine; they are not a diagnosis.",
        add_arguments=referral_arguments,
        handle=referral,
    ),
    "screen": Knowledge(
        help="Screen a patient's factors against a needling plan: allowed, caution or "
        "contraindicated.",
        add_arguments=screen_arguments,
        handle=screen,
    ),
    "regions": Knowledge(
        help="List the body-chart regions (ids for the referral and screening commands).",
        add_arguments=_json_option,
        handle=regions,
    ),
    "muscles": Knowledge(
        help="List the muscle catalogue: needling sites, referral zones, structures at risk.",
        add_arguments=_json_option,
        handle=muscles,
    ),
}
