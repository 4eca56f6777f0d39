"""The default consent and aftercare texts a clinic starts from."""

from functools import cache

from needlechart.knowledge.errors import UnknownCode
from needlechart.knowledge.loader import load
from needlechart.knowledge.schema import DocumentEntry, DocumentFile


@cache
def _file() -> DocumentFile:
    return load("documents.json", DocumentFile)


def default_document(kind: str) -> DocumentEntry:
    for entry in _file().documents:
        if entry.kind == kind:
            return entry
    raise UnknownCode("document kind", kind)


def default_documents_edition() -> str:
    """The edition of the shipped texts ("2026.2"), for a clinic page that offers a newer
    default as the clinic's next version."""
    return _file().version
