"""The clinic's catalogue: consent and aftercare texts (versioned) and the needles it stocks."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from needlechart import knowledge
from needlechart.accounts import rules
from needlechart.accounts.guards import authorize
from needlechart.accounts.models import Clinic, User
from needlechart.audit import services as audit
from needlechart.charting.models import (
    DocumentTemplate,
    NeedleSize,
)
from needlechart.db.prepared import prepared

# Needle sizes a new clinic starts with (diameter x length, mm); the clinic edits the list.
DEFAULT_NEEDLES = [
    ("0.16", 15), ("0.20", 30), ("0.25", 25), ("0.25", 40), ("0.30", 50), ("0.30", 60),
    ("0.30", 75),
]  # fmt: skip


def catalogue_start(clinic: Clinic) -> None:
    """A new clinic's catalogue: the shipped consent and aftercare texts as version 1, and
    common needle sizes. Run once when the clinic is created (see charting.apps), so that
    reading the catalogue never writes."""
    for kind in DocumentTemplate.Kind.values:
        default = knowledge.default_document(kind)
        DocumentTemplate.objects.get_or_create(
            clinic=clinic, kind=kind, version=1,
            defaults={"title": default.title, "body": default.body},
        )  # fmt: skip
    if not NeedleSize.objects.filter(clinic=clinic).exists():
        NeedleSize.objects.bulk_create(
            [
                NeedleSize(clinic=clinic, diameter_mm=Decimal(d), length_mm=n)
                for d, n in DEFAULT_NEEDLES
            ],
            ignore_conflicts=True,
        )


def current_template(*, clinic: Clinic | int, kind: str) -> DocumentTemplate:
    """The clinic's newest consent or aftercare text (version 1 is the shipped default); the
    clinic or its id (a patient's `clinic_id`, not to read the clinic only for this)."""
    newest = _newest_template(clinic if isinstance(clinic, int) else clinic.pk, str(kind))
    return newest[0] if newest else None


@prepared
def _newest_template(clinic_id: int, kind: str) -> QuerySet:
    return DocumentTemplate.objects.filter(clinic_id=clinic_id, kind=kind).order_by("-version")[:1]


@transaction.atomic
def template_new_version(*, actor: User, kind: str, title: str, body: str) -> DocumentTemplate:
    """A new version of the clinic's consent or aftercare text (old versions stay)."""
    authorize(actor, roles=rules.ADMIN_ROLES, what="change the clinic's documents")
    current = current_template(clinic=actor.clinic, kind=kind)
    if current.title == title.strip() and current.body.strip() == body.strip():
        raise ValidationError({"body": "The text is the same as the current version."})
    template = DocumentTemplate(
        clinic=actor.clinic,
        kind=kind,
        version=current.version + 1,
        title=title.strip(),
        body=body.strip(),
        created_by=actor,
    )
    template.full_clean()
    template.save()
    audit.record(actor=actor, action=audit.Action.CREATE, obj=template, detail={"kind": kind})
    return template


def needle_sizes(clinic: Clinic) -> list[NeedleSize]:
    """The clinic's needle catalogue, retired sizes included."""
    return _needle_sizes_of(clinic.pk)


@prepared
def _needle_sizes_of(clinic_id: int) -> QuerySet:
    return NeedleSize.objects.filter(clinic_id=clinic_id)


@transaction.atomic
def needle_size_add(*, actor: User, diameter_mm: Decimal, length_mm: int) -> NeedleSize:
    authorize(actor, roles=rules.ADMIN_ROLES, what="change the needle catalogue")
    if not Decimal("0.10") <= diameter_mm <= Decimal("0.50"):
        raise ValidationError({"diameter_mm": "Needle diameters run from 0.10 to 0.50 mm."})
    if not 5 <= length_mm <= 150:
        raise ValidationError({"length_mm": "Needle lengths run from 5 to 150 mm."})
    size, created = NeedleSize.objects.get_or_create(
        clinic=actor.clinic, diameter_mm=diameter_mm, length_mm=length_mm
    )
    if not created and size.active:
        raise ValidationError({"length_mm": f"{size} is already in the catalogue."})
    size.active = True
    size.save(update_fields=["active"])
    audit.record(actor=actor, action=audit.Action.CREATE, obj=size)
    return size


@transaction.atomic
def needle_size_retire(*, actor: User, size: NeedleSize) -> None:
    """Stop offering a size; sessions that used it keep it."""
    authorize(
        actor, roles=rules.ADMIN_ROLES, clinic=size.clinic, what="change the needle catalogue"
    )
    size.active = False
    size.save(update_fields=["active"])
    audit.record(actor=actor, action=audit.Action.UPDATE, obj=size, detail={"active": False})
