"""Load the versioned data files shipped with the package, validated against their schema."""

from importlib import resources
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from needlechart.knowledge.errors import KnowledgeDataError

Model = TypeVar("Model", bound=BaseModel)

DATA = resources.files("needlechart.knowledge").joinpath("data")


def data_text(filename: str) -> str:
    return DATA.joinpath(filename).read_text("utf-8")


def load(filename: str, schema: type[Model]) -> Model:
    """Parse and validate one file of `data/`; callers cache the result."""
    return parse(data_text(filename), schema, filename)


def load_path(path: Path, schema: type[Model]) -> Model:
    return parse(path.read_text("utf-8"), schema, str(path))


def parse(text: str, schema: type[Model], name: str) -> Model:
    try:
        return schema.model_validate_json(text)
    except ValidationError as error:
        raise KnowledgeDataError(f"{name}: {error}") from error
