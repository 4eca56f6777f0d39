"""What every chart write shares: the refusals of signed records, text cleaning, the row lock."""

from django.core.exceptions import ValidationError

from needlechart import knowledge
from needlechart.accounts.models import Practitioner, User
from needlechart.charting.models import (
    Addendum,
    Assessment,
    NeedlingSession,
)
from needlechart.patients.models import EpisodeOfCare

SIGNED = "This record is signed and cannot be changed; add an addendum instead."


IN_ERROR = "This record was marked entered in error and cannot be changed."


def clean_text(value: object, field: str, *, max_length: int, required: bool = True) -> str:
    """Text as a service stores it: trimmed, no NUL character, within its length."""
    text = value.strip() if isinstance(value, str) else ""
    if "\x00" in text:
        raise ValidationError({field: "This text contains a character that cannot be stored."})
    if len(text) > max_length:
        raise ValidationError({field: f"Keep this to {max_length} characters or fewer."})
    if required and not text:
        raise ValidationError({field: "This field is required."})
    return text


def _practitioner_of(actor: User) -> Practitioner:
    practitioner = getattr(actor, "practitioner", None)
    if practitioner is None:
        raise ValidationError("Only staff with a practitioner profile can do this.")
    return practitioner


def entered_in_error(record: Assessment | NeedlingSession) -> bool:
    return record.addenda.filter(kind=Addendum.Kind.ENTERED_IN_ERROR).exists()


def refuse_if_signed(record: Assessment | NeedlingSession) -> None:
    """Refuse changes to a signed record, or one entered in error (outcomes applies it to
    measurements of a session or assessment)."""
    if record.is_signed:
        raise ValidationError(SIGNED)
    if entered_in_error(record):
        raise ValidationError(IN_ERROR)


def refuse_if_discharged(episode: EpisodeOfCare) -> None:
    """Refuse new clinical records in a discharged episode (outcomes applies it too)."""
    if episode.status == EpisodeOfCare.Status.FINISHED:
        raise ValidationError("This episode of care is discharged; it takes addenda only.")


def _muscle(slug: str) -> knowledge.schema.MuscleEntry:
    try:
        return knowledge.muscle(slug)
    except knowledge.UnknownCode as error:
        raise ValidationError({"muscle": str(error)}) from None
