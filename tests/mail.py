"""The suite's outbox: Django's locmem backend, refusing any email sent while a database
transaction is open, so every test shows that mail leaves only after the commit."""

from django.core.mail.backends import locmem
from django.db import connections


def open_transactions() -> list[str]:
    """The databases with a transaction open, not counting the ones each test runs in."""
    return [
        connection.alias
        for connection in connections.all(initialized_only=True)
        if any(not getattr(b, "_from_testcase", False) for b in connection.atomic_blocks)
    ]


class Backend(locmem.EmailBackend):
    def send_messages(self, messages: list) -> int:
        if aliases := open_transactions():
            raise AssertionError(
                f"email sent inside a transaction on {', '.join(aliases)}: "
                "send it with needlechart.mail.after_commit"
            )
        return super().send_messages(messages)
