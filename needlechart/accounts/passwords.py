"""Password rules beyond Django's own validators (settings.AUTH_PASSWORD_VALIDATORS)."""

from typing import Any

from django.core.exceptions import ValidationError

# A password needs this many letters that are not one of the names below.
OTHER_LETTERS = 4


def _letters(text: str) -> str:
    return "".join(c for c in text.casefold() if c.isalpha())


def _words(text: str) -> list[str]:
    """The words of a name or an address, and the whole of it run together."""
    words = "".join(c if c.isalpha() else " " for c in text.casefold()).split()
    return [w for w in [*words, _letters(text)] if len(w) >= 3]


def names_of(user: Any) -> set[str]:
    """The user's own names and their clinic's, as a guesser would try them."""
    texts = [user.get_username(), getattr(user, "first_name", ""), getattr(user, "last_name", "")]
    email = getattr(user, "email", "") or ""
    texts.append(email.split("@")[0])
    clinic = getattr(user, "clinic", None)
    if clinic is None and getattr(user, "is_patient", False):
        account = getattr(user, "portal_account", None)
        clinic = account.patient.clinic if account is not None else None
    if clinic is not None:
        texts.append(clinic.name)
    return {word for text in texts if text for word in _words(text)}


class NamesValidator:
    """Refuse a password that is the user's own name or their clinic's name dressed up with
    digits and symbols ("alicesmith2026", "Northside Physio 2026!"): Django's similarity
    check lets such a password through once it is long enough. It is the first thing a
    guesser tries, so what remains after taking the names out must still be a few letters."""

    def validate(self, password: str, user: Any = None) -> None:
        if user is None:
            return
        letters = _letters(password)
        rest = letters
        for name in sorted(names_of(user), key=len, reverse=True):
            rest = rest.replace(name, "")
        if rest != letters and len(rest) < OTHER_LETTERS:
            raise ValidationError(
                "This password is mostly your name or your clinic's name; choose one that "
                "is not about you or the clinic.",
                code="password_names",
            )

    def get_help_text(self) -> str:
        return "Your password cannot be mostly your name or your clinic's name."
