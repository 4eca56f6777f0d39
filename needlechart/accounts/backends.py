"""Who may sign in to the pages: people. A service account (another system of the clinic)
has no password and acts only through API tokens; should it ever get a password or a
session, this backend still refuses it."""

from typing import Any

from django.contrib.auth.backends import ModelBackend

from needlechart.accounts.models import Role, User
from needlechart.db.prepared import prepared


@prepared
def _user(user_id: int) -> Any:
    return User._default_manager.filter(pk=user_id)


class PeopleBackend(ModelBackend):
    def get_user(self, user_id: Any) -> User | None:
        # Every request reads its user: the query is compiled once (db/prepared.py).
        found = _user(user_id)
        if not found:
            return None
        return found[0] if self.user_can_authenticate(found[0]) else None

    def user_can_authenticate(self, user: Any) -> bool:
        # Also consulted for every request's session (get_user): a service account's
        # session, however made, is signed out.
        return super().user_can_authenticate(user) and getattr(user, "role", "") != Role.SERVICE
