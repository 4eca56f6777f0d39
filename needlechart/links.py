"""Links to a record by its id, for pages that list many records.

`reverse()` matches the URL patterns anew at every call, about 20 microseconds; a timeline
of 50 entries paid a millisecond for its links. A view's link to one record differs from
another's only by the id, so its pattern is reversed once per view name (and script
prefix) and the id written into it.
"""

import functools

from django.urls import get_script_prefix, reverse

# An id no record has, reversed in place of the real one and then replaced by it.
_MARK = 2_147_483_646


@functools.lru_cache(maxsize=512)
def _around(viewname: str, prefix: str) -> tuple[str, str]:
    """The link before and after the id. `prefix`: the script prefix `reverse` adds, part
    of the key, so that a prefix set later gives its own links."""
    url = reverse(viewname, args=[_MARK])
    head, mark, tail = url.partition(str(_MARK))
    if not mark or str(_MARK) in tail:
        raise ValueError(f"{viewname} does not take one id")
    return head, tail


def id_url(viewname: str, pk: int) -> str:
    """`reverse(viewname, args=[pk])` for a view whose only argument is a record's id."""
    head, tail = _around(viewname, get_script_prefix())
    return f"{head}{int(pk)}{tail}"


# A second id no record has, for views that take two (a session's row, say).
_MARK_2 = 2_147_483_645


@functools.lru_cache(maxsize=512)
def _around_two(viewname: str, prefix: str) -> tuple[str, str, str]:
    """The link before, between and after the two ids."""
    url = reverse(viewname, args=[_MARK, _MARK_2])
    head, mark, rest = url.partition(str(_MARK))
    middle, mark_2, tail = rest.partition(str(_MARK_2))
    if not mark or not mark_2 or str(_MARK) in tail or str(_MARK_2) in tail:
        raise ValueError(f"{viewname} does not take two ids")
    return head, middle, tail


def ids_url(viewname: str, first: int, second: int) -> str:
    """`reverse(viewname, args=[first, second])` for a view whose arguments are two ids."""
    head, middle, tail = _around_two(viewname, get_script_prefix())
    return f"{head}{int(first)}{middle}{int(second)}{tail}"


@functools.lru_cache(maxsize=1024)
def _slug_url(viewname: str, slug: str, prefix: str) -> str:
    return reverse(viewname, args=[slug])


def slug_url(viewname: str, slug: str) -> str:
    """`reverse(viewname, args=[slug])` for a view of a catalogue's entry (a muscle, a
    region): a few hundred of them, each reversed once per script prefix."""
    return _slug_url(viewname, slug, get_script_prefix())
