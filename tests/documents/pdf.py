"""Reading an issued PDF back as its text, as a reader (or a search) would."""

import io

import pypdf


def text(pdf: bytes) -> str:
    """The text of every page, its line breaks (where a line happened to wrap) as spaces."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def metadata(pdf: bytes) -> dict:
    return dict(pypdf.PdfReader(io.BytesIO(pdf)).metadata or {})
