"""The independent FHIR R4 validator: @medplum/core's validateResource, run by Node
(tests/fhir/validator/, installed by `make install` with `npm ci`)."""

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

VALIDATOR = Path(__file__).resolve().parent / "validator"


def errors(resources: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Each invalid resource (as Type/id) with its errors; empty when every one is valid."""
    if not (VALIDATOR / "node_modules" / "@medplum" / "core").is_dir():
        raise RuntimeError("The FHIR validator is not installed: run `make install` (npm ci).")
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("The FHIR validator needs Node (>= 20.19) on the PATH.")
    answer = subprocess.run(
        [node, str(VALIDATOR / "validate.mjs")],
        input=json.dumps(resources),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    results = json.loads(answer.stdout)
    return [
        (f"{resource['resourceType']}/{resource.get('id')}", issues)
        for resource, issues in zip(resources, results, strict=True)
        if issues
    ]
