"""Rewrite data/muscles.json in its reviewable layout: one muscle key per line.

Run after editing the file by program: `python scripts/format_muscles.py`.
"""

import json
from pathlib import Path

PATH = (
    Path(__file__).resolve().parent.parent / "needlechart" / "knowledge" / "data" / "muscles.json"
)


def dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def main() -> None:
    data = json.loads(PATH.read_text("utf-8"))
    lines = ["{"]
    lines.append(f'  "version": {dumps(data["version"])},')
    lines.append(f'  "description": {dumps(data["description"])},')
    lines.append('  "sources": {')
    sources = list(data["sources"].items())
    for index, (key, source) in enumerate(sources):
        comma = "," if index < len(sources) - 1 else ""
        lines.append(f"    {dumps(key)}: {dumps(source)}{comma}")
    lines.append("  },")
    lines.append('  "muscles": [')
    for index, muscle in enumerate(data["muscles"]):
        lines.append("    {")
        keys = list(muscle)
        for position, key in enumerate(keys):
            comma = "," if position < len(keys) - 1 else ""
            value = muscle[key]
            if key == "structures_at_risk" and value:
                lines.append(f'      "{key}": [')
                for n, risk in enumerate(value):
                    lines.append(f"        {dumps(risk)}{',' if n < len(value) - 1 else ''}")
                lines.append(f"      ]{comma}")
            else:
                lines.append(f'      "{key}": {dumps(value)}{comma}')
        lines.append("    }" + ("," if index < len(data["muscles"]) - 1 else ""))
    lines.append("  ]")
    lines.append("}")
    PATH.write_text("\n".join(lines) + "\n", "utf-8")


if __name__ == "__main__":
    main()
