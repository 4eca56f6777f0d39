"""View guards. Login itself is enforced for every page by LoginRequiredMiddleware.

The rule for ids: a record of another clinic is a 404 for every role, so a response
never confirms that someone else's record exists. A role that may not use a page gets
a 403 only for ids of its own clinic (or pages without ids).
"""

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from needlechart.accounts import rules
from needlechart.accounts.models import Role, User

View = Callable[..., HttpResponse]
# Given the user and the view's URL arguments, whether the record is in the user's clinic.
Scope = Callable[..., bool]


def role_required(roles: Iterable[Role], scope: Scope | None = None) -> Callable[[View], View]:
    allowed = frozenset(roles)

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not rules.has_role(request.user, allowed):
                if scope is not None and not scope(request.user, **kwargs):
                    raise Http404
                raise PermissionDenied("Your role does not give access to this page.")
            # An action that only takes POST, asked with another method, answers 405 only
            # for a record of the user's clinic (it never reads the record to say so).
            if (
                getattr(view, "post_only", False)
                and request.method != "POST"
                and scope is not None
                and not scope(request.user, **kwargs)
            ):
                raise Http404
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def post_only(view: View) -> View:
    """Django's require_POST, placed beneath an access guard, which it tells so: another
    clinic's address answers 404 to any method, as docs/access.md promises, not 405."""
    guarded = require_POST(view)
    guarded.post_only = True  # type: ignore[attr-defined]
    return guarded


def staff(scope: Scope | None = None) -> Callable[[View], View]:
    return role_required(rules.STAFF_ROLES, scope)


def clinical_read(scope: Scope | None = None) -> Callable[[View], View]:
    return role_required(rules.CLINICAL_READ_ROLES, scope)


def clinical_write(scope: Scope | None = None) -> Callable[[View], View]:
    return role_required(rules.CLINICAL_WRITE_ROLES, scope)


def clinical_read_write(scope: Scope | None = None) -> Callable[[View], View]:
    """Pages every clinical role reads (GET) and only clinicians change (POST). The role is
    checked before the record is read, so a refused change leaves no trace of a read."""

    def decorator(view: View) -> View:
        read = clinical_read(scope)(view)
        write = clinical_write(scope)(view)

        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            return (write if request.method == "POST" else read)(request, *args, **kwargs)

        return wrapped

    return decorator


def clinic_admin(scope: Scope | None = None) -> Callable[[View], View]:
    return role_required(rules.ADMIN_ROLES, scope)


def in_clinic(user: User, queryset: Any, clinic_path: str, pk: int) -> bool:
    """Whether the row `pk` of `queryset` belongs to the user's clinic, by `clinic_path`."""
    if not user.is_authenticated or user.clinic_id is None:
        return False
    return queryset.filter(pk=pk, **{clinic_path: user.clinic_id}).exists()
