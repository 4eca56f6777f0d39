"""The health screening: the answers that decide what may be needled, newest first."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from needlechart import knowledge
from needlechart.accounts import rules
from needlechart.accounts.guards import authorize
from needlechart.accounts.models import User
from needlechart.audit import services as audit
from needlechart.charting.models import (
    Screening,
)
from needlechart.charting.services.common import refuse_if_discharged
from needlechart.db.prepared import prepared
from needlechart.patients.models import EpisodeOfCare


def _factor_json(factor: knowledge.Factor) -> dict[str, Any]:
    """A factor as stored with the screening: every detail the engine parsed."""
    return factor.as_json()


def clean_factors(factors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Factors as the safety engine understands them, or a ValidationError saying why not."""
    from needlechart.knowledge.safety import parse_factors

    try:
        return [_factor_json(factor) for factor in parse_factors(factors)]
    except (knowledge.UnknownCode, knowledge.InvalidInput) as error:
        raise ValidationError(str(error)) from None


@transaction.atomic
def screening_record(
    *,
    actor: User,
    episode: EpisodeOfCare,
    factors: list[dict[str, Any]],
    note: str = "",
    source: str = Screening.Source.CLINICIAN,
) -> Screening:
    """Record the health questionnaire; the newest screening is the current one."""
    authorize(
        actor, roles=rules.CLINICAL_WRITE_ROLES, patient=episode.patient, what="record a screening"
    )
    refuse_if_discharged(episode)
    screening = Screening.objects.create(
        episode=episode,
        factors=clean_factors(factors),
        note=note.strip(),
        source=source,
        recorded_by=actor,
    )
    audit.record(
        actor=actor,
        action=audit.Action.CREATE,
        obj=screening,
        patient=episode.patient,
        detail={"factors": [f["code"] for f in screening.factors]},
    )
    return screening


def current_screening(episode: EpisodeOfCare) -> Screening | None:
    newest = _newest_screening(episode.pk)
    return newest[0] if newest else None


@prepared
def _newest_screening(episode_id: int) -> QuerySet:
    return Screening.objects.filter(episode_id=episode_id).order_by("-recorded_at", "-id")[:1]


def screen_plan(screening: Screening | None, items: list[dict[str, Any]]) -> knowledge.Screening:
    return knowledge.screen(screening.factors if screening else [], items)
