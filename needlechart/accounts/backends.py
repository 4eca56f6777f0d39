"""Who may sign in to the pages: people. A service account (another system of the clinic)
has no password and acts only through API tokens; should it ever get a password or a
session, this backend still refuses it."""

from typing import Any

from django.contrib.auth.backends import ModelBackend

from needlechart.accounts.models import Role


class PeopleBackend(ModelBackend):
    def user_can_authenticate(self, user: Any) -> bool:
        # Also consulted for every request's session (get_user): a service account's
        # session, however made, is signed out.
        return super().user_can_authenticate(user) and getattr(user, "role", "") != Role.SERVICE
