"""Charting fixtures live in tests/conftest.py; `row` is re-exported for the tests here."""

from tests.charts import row

__all__ = ["row"]
