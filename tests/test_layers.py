"""The import graph runs one way: the layers in pyproject.toml ([tool.importlinter]), from
the entry points at the top to the knowledge package at the bottom."""

import pkgutil
import tomllib
from pathlib import Path

import needlechart

ROOT = Path(__file__).resolve().parent.parent


def _layers() -> list[set[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return [
        {name.strip() for name in layer.replace(":", "|").split("|")}
        for layer in contract["layers"]
    ]


def test_no_module_imports_a_layer_above_its_own(capsys):
    from importlinter.cli import lint_imports

    code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True)
    report = capsys.readouterr().out
    assert code == 0, report


def test_every_package_of_needlechart_has_its_place_in_the_layers():
    # A new app or shared module left out of the layers could import anything.
    placed = set().union(*_layers())
    for module in pkgutil.iter_modules(needlechart.__path__):
        if module.name in {"settings", "__main__"}:
            continue
        assert f"needlechart.{module.name}" in placed, module.name


def test_the_knowledge_package_is_at_the_bottom_and_the_entry_points_on_top():
    layers = _layers()
    assert layers[-1] == {"needlechart.knowledge"}
    assert "needlechart.urls" in layers[0]
