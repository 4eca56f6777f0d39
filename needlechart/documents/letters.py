"""Letters to the referrer: the clinic's wording per kind of letter (versioned, never edited
in place), drafted for an episode, edited while a draft, and signed by issuing it as a
document, after which it is never changed: it takes addenda, and is issued again with them."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from needlechart.accounts import rules
from needlechart.accounts.guards import authorize
from needlechart.accounts.models import Clinic, User
from needlechart.audit import services as audit
from needlechart.audit.submissions import once
from needlechart.charting.services.common import clean_text
from needlechart.documents import services
from needlechart.documents.models import Document, Kind, Letter, LetterAddendum, LetterTemplate
from needlechart.patients.models import EpisodeOfCare

# The wording a clinic starts with, in our own words; the clinic admin changes it.
DEFAULTS = {
    Kind.PROGRESS_REPORT: {
        "salutation": "Dear {recipient},",
        "opening": "Thank you for referring this patient. This is a report of their progress "
        "in our care so far.",
        "closing": "Please contact us if you would like to discuss their care.\n\nYours sincerely,",
    },
    Kind.DISCHARGE_LETTER: {
        "salutation": "Dear {recipient},",
        "opening": "Thank you for referring this patient. Their course of care with us has "
        "ended; a summary follows.",
        "closing": "Thank you for the referral.\n\nYours sincerely,",
    },
}
FIELDS = ("salutation", "opening", "closing")


def current_wording(*, clinic: Clinic, kind: str) -> LetterTemplate:
    """The clinic's newest wording for `kind`; before its first change, the default as an
    unsaved version 0 (reading never writes)."""
    if kind not in DEFAULTS:
        raise ValidationError(f"There are no letters of kind {kind!r}.")
    saved = LetterTemplate.objects.filter(clinic=clinic, kind=kind).order_by("-version").first()
    return saved or LetterTemplate(clinic=clinic, kind=kind, version=0, **DEFAULTS[kind])


@transaction.atomic
def wording_new_version(
    *, actor: User, kind: str, salutation: str, opening: str, closing: str
) -> LetterTemplate:
    """A new version of the clinic's wording for one kind of letter (old versions stay, and
    the letters drafted from them keep theirs)."""
    authorize(actor, roles=rules.ADMIN_ROLES, what="change the clinic's letters")
    current = current_wording(clinic=actor.clinic, kind=kind)
    values = {"salutation": salutation.strip(), "opening": opening.strip(),
              "closing": closing.strip()}  # fmt: skip
    if all(getattr(current, name) == value for name, value in values.items()):
        raise ValidationError({"opening": "The wording is the same as the current version."})
    wording = LetterTemplate(
        clinic=actor.clinic, kind=kind, version=current.version + 1, created_by=actor, **values
    )
    wording.full_clean()
    wording.save()
    audit.record(actor=actor, action=audit.Action.CREATE, obj=wording, detail={"kind": kind})
    return wording


def _salutation(template: str, recipient: str) -> str:
    return template.replace("{recipient}", recipient or "colleague")


@transaction.atomic
def letter_start(*, actor: User, episode: EpisodeOfCare, kind: str, token: str = "") -> Letter:
    """A draft letter of `kind` to the episode's referrer, in the clinic's current wording
    (saved as version 1 the first time it is used unchanged). A double click drafts one."""
    authorize(actor, roles=rules.CLINICAL_WRITE_ROLES, patient=episode.patient,
              what="write letters")  # fmt: skip
    if kind == Kind.DISCHARGE_LETTER and not hasattr(episode, "discharge"):
        raise ValidationError("A discharge letter needs the episode discharged first.")

    def create() -> Letter:
        wording = current_wording(clinic=episode.patient.clinic, kind=kind)
        if wording.pk is None:
            wording.version, wording.created_by = 1, None
            wording.save()
            audit.record(actor=actor, action=audit.Action.CREATE, obj=wording,
                         detail={"kind": kind, "default": True})  # fmt: skip
        letter = Letter.objects.create(
            episode=episode, kind=kind, template=wording, recipient=episode.referral_detail,
            salutation=_salutation(wording.salutation, episode.referral_detail),
            opening=wording.opening, closing=wording.closing, created_by=actor,
        )  # fmt: skip
        audit.record(
            actor=actor, action=audit.Action.CREATE, obj=letter, patient=episode.patient,
            detail={"kind": kind, "wording": wording.version},
        )  # fmt: skip
        return letter

    return once(actor=actor, token=token, model=Letter, create=create)


def _locked(letter: Letter) -> Letter:
    """The letter as it stands now, locked; refused once signed."""
    current = (
        Letter.objects.select_for_update().select_related("episode__patient").get(pk=letter.pk)
    )
    if current.signed_at is not None:
        raise ValidationError("This letter is signed and issued: it cannot be changed.")
    return current


@transaction.atomic
def letter_update(*, actor: User, letter: Letter, **values: str) -> Letter:
    """Change a draft letter's addressee, salutation, opening, text or closing."""
    authorize(actor, roles=rules.CLINICAL_WRITE_ROLES, patient=letter.episode.patient,
              what="write letters")  # fmt: skip
    current = _locked(letter)
    unknown = set(values) - set(Letter.EDITABLE)
    if unknown:
        raise ValidationError(f"A letter has no {', '.join(sorted(unknown))}.")
    changed = {}
    for name, value in values.items():
        value = value.strip()
        if getattr(current, name) != value:
            changed[name] = [getattr(current, name), value]
            setattr(current, name, value)
    if not current.salutation:
        raise ValidationError({"salutation": "A letter opens with a salutation."})
    if changed:
        current.full_clean()
        current.save()
        audit.record(
            actor=actor, action=audit.Action.UPDATE, obj=current,
            patient=current.episode.patient, detail={"changed": sorted(changed)},
        )  # fmt: skip
    return current


@transaction.atomic
def letter_issue(
    *,
    actor: User,
    letter: Letter,
    send_to_referrer: bool = False,
    notify_patient: bool = False,
    token: str = "",
) -> Letter:
    """Sign the draft and issue it as a document (the progress report or discharge letter
    with the letter's words), then never change it again. A double click issues once."""
    authorize(actor, roles=rules.SIGNING_ROLES, patient=letter.episode.patient,
              what="sign letters")  # fmt: skip
    if token and letter.signed_at is not None and letter.document_id:
        # The second press of the same form finds the letter issued by the first.
        return letter
    current = _locked(letter)
    episode = current.episode
    record = episode if current.kind == Kind.PROGRESS_REPORT else episode.discharge
    document = services.document_issue(
        actor=actor, kind=current.kind, record=record, addressee=current.recipient,
        letter=current, send_to_referrer=send_to_referrer, notify_patient=notify_patient,
    )  # fmt: skip
    current.document, current.signed_at = document, timezone.now()
    current.save(update_fields=["document", "signed_at", "updated_at"])
    audit.record(actor=actor, action=audit.Action.SIGN, obj=current, patient=episode.patient,
                 detail={"document": document.pk})  # fmt: skip
    return current


DRAFT_ADDENDUM = (
    "This letter is still a draft: change its text instead. Addenda are for signed letters."
)


@transaction.atomic
def letter_addendum_add(
    *, actor: User, letter: Letter, reason: str, text: str, token: str = ""
) -> LetterAddendum:
    """A later note on a signed letter, kept as written; a draft is edited instead. The
    form's `token` makes a double click add one."""
    patient = letter.episode.patient
    # An addendum carries its writer's name, as a signature does: a person's, never a
    # service account's (as for the charting's addenda).
    authorize(actor, roles=rules.SIGNING_ROLES, patient=patient, what="add addenda")
    # Read again: the letter may have been signed (or not) since the page was drawn.
    signed_at = Letter.objects.filter(pk=letter.pk).values_list("signed_at", flat=True).get()
    if signed_at is None:
        raise ValidationError(DRAFT_ADDENDUM)
    reason = clean_text(reason, "reason", max_length=300)
    text = clean_text(text, "text", max_length=20000)

    def create() -> LetterAddendum:
        addendum = LetterAddendum.objects.create(
            letter=letter, reason=reason, text=text, author=actor
        )
        audit.record(
            actor=actor, action=audit.Action.CREATE, obj=addendum, patient=patient,
            detail={"on": f"{Letter.AUDIT_TYPE}/{letter.pk}"},
        )  # fmt: skip
        return addendum

    return once(actor=actor, token=token, model=LetterAddendum, create=create)


def letter_reissue(
    *,
    actor: User,
    letter: Letter,
    send_to_referrer: bool = False,
    notify_patient: bool = False,
    token: str = "",
) -> Document:
    """Issue a signed letter again as a new document: the same words, dated as first issued,
    with the addenda written since. The documents issued before stay as they were. A
    double click issues once. Not one transaction: the PDF is laid out before the one that
    keeps it (services.document_issue)."""
    # Issued under the clinician's name, as the first issue is (letter_issue).
    authorize(actor, roles=rules.SIGNING_ROLES, patient=letter.episode.patient,
              what="sign letters")  # fmt: skip
    current = Letter.objects.select_related("episode__patient", "template", "document").get(
        pk=letter.pk
    )
    if current.signed_at is None:
        raise ValidationError("This letter is still a draft: sign and issue it first.")
    episode = current.episode
    record = episode if current.kind == Kind.PROGRESS_REPORT else episode.discharge
    first = current.document.issued_at if current.document else current.signed_at
    return services.document_issue(
        actor=actor, kind=current.kind, record=record, addressee=current.recipient,
        letter=current, as_of=first, send_to_referrer=send_to_referrer,
        notify_patient=notify_patient, token=token,
    )  # fmt: skip
