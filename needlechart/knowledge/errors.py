"""Errors raised by the knowledge engines; each names what was not understood."""


class KnowledgeDataError(RuntimeError):
    """A shipped data file does not match its schema or names something that does not exist."""


class UnknownCode(KeyError):
    """A code, slug or region id that is not in the shipped catalogues."""

    def __init__(self, kind: str, value: object) -> None:
        super().__init__(f"unknown {kind}: {value!r}")
        self.kind = kind
        self.value = value

    def __str__(self) -> str:
        return self.args[0]


class InvalidInput(ValueError):
    """Input that is understood but not acceptable, e.g. a score outside its scale."""
