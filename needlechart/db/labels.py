"""Choice labels looked up in a map made once per field.

Django's `get_<field>_display()` flattens the field's choices into a new dict at every
call, and a field whose choices come from a function (the muscles, the body regions, the
adverse-event types of the knowledge package) calls that function each time as well: a
session row's muscle name cost about 0.2 ms, on every row of every page. The knowledge
package's catalogues do not change while the process runs, so the map is made once.
"""

import functools
from typing import Any

from django.db import models
from django.utils.encoding import force_str
from django.utils.hashable import make_hashable


@functools.cache
def _labels(field: models.Field) -> dict[Any, Any]:
    return dict(make_hashable(field.flatchoices))


class ChoiceLabels(models.Model):
    """A model whose `get_<field>_display()` reads the labels from the map (as Django's
    does from a new one)."""

    class Meta:
        abstract = True

    def _get_FIELD_display(self, field: models.Field) -> Any:
        value = getattr(self, field.attname)
        return force_str(_labels(field).get(make_hashable(value), value), strings_only=True)
