"""Aftercare advice given for a session, once per text version."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from needlechart.accounts import rules
from needlechart.accounts.guards import authorize
from needlechart.accounts.models import User
from needlechart.audit import services as audit
from needlechart.charting.models import (
    AftercareIssue,
    DocumentTemplate,
    NeedlingSession,
)
from needlechart.charting.services.catalogue import current_template
from needlechart.charting.services.common import (
    IN_ERROR,
    entered_in_error,
)


@transaction.atomic
def aftercare_issue(*, actor: User, session: NeedlingSession) -> AftercareIssue:
    """Record that the clinic's current aftercare advice was given for this session."""
    authorize(
        actor,
        roles=rules.CLINICAL_WRITE_ROLES,
        patient=session.episode.patient,
        what="issue aftercare",
    )
    if entered_in_error(session):
        raise ValidationError(IN_ERROR)
    if not session.insertions.exists():
        raise ValidationError("Record the needled muscles before issuing aftercare.")
    # Locked, so a double click records the advice once and answers the second press.
    NeedlingSession.objects.select_for_update().filter(pk=session.pk).first()
    template = current_template(clinic=actor.clinic, kind=DocumentTemplate.Kind.AFTERCARE)
    given = _aftercare_given(session, template)
    if given is not None:
        raise ValidationError(
            f"Aftercare was already recorded as given "
            f"({timezone.localtime(given.issued_at):%Y-%m-%d %H:%M}); nothing new is recorded."
        )
    issue = AftercareIssue.objects.create(session=session, template=template, issued_by=actor)
    audit.record(
        actor=actor,
        action=audit.Action.CREATE,
        obj=issue,
        patient=session.episode.patient,
        detail={"template_version": template.version},
    )
    return issue


def _aftercare_given(
    session: NeedlingSession, template: DocumentTemplate | None = None
) -> AftercareIssue | None:
    """The record of this aftercare text (any version when None) given for the session."""
    issues = AftercareIssue.objects.filter(session=session)
    if template is not None:
        issues = issues.filter(template=template)
    return issues.order_by("issued_at").first()
