"""Writes to the chart, one module per kind of record. Each public function is atomic,
takes the acting user, authorises through `needlechart.accounts.guards.authorize`, enforces
the clinical rules and writes its audit row in the same transaction. Signed records are
refused here (and by the database).

Callers import this package (`from needlechart.charting import services`): the names below
are its public interface, whichever module holds them.
"""

from needlechart.charting.services.addenda import (
    addendum_add,
)
from needlechart.charting.services.adverse_events import (
    AE_FIELDS,
    AE_FOLLOW_UP,
    adverse_event_enter_in_error,
    adverse_event_record,
    adverse_event_update,
)
from needlechart.charting.services.aftercare import (
    aftercare_issue,
)
from needlechart.charting.services.assessment import (
    FINDING_FIELDS,
    assessment_sign,
    assessment_start,
    assessment_update,
    finding_add,
    finding_remove,
    pain_mark_remove,
    pain_mark_set,
)
from needlechart.charting.services.catalogue import (
    DEFAULT_NEEDLES,
    current_template,
    needle_size_add,
    needle_size_retire,
    needle_sizes,
    template_new_version,
)
from needlechart.charting.services.common import (
    IN_ERROR,
    SIGNED,
    clean_text,
    entered_in_error,
)
from needlechart.charting.services.consent import (
    consent_record,
    consent_sign,
    consent_status,
    consent_withdraw,
    training_statement,
)
from needlechart.charting.services.rows import (
    FINDING_FIELDS_OF_ROW,
    INSERTION_FIELDS,
    LIMITS,
    ROW_GONE,
    STIMULATION_FIELDS,
    insertion_add,
    insertion_remove,
    insertion_update,
    plan_item,
)
from needlechart.charting.services.screening import (
    clean_factors,
    current_screening,
    screen_plan,
    screening_record,
)
from needlechart.charting.services.session import (
    SESSION_CARRIED,
    SESSION_FIELDS,
    session_sign,
    session_start,
    session_update,
    sign_checks,
    sign_problems,
)

__all__ = [
    "AE_FIELDS",
    "AE_FOLLOW_UP",
    "DEFAULT_NEEDLES",
    "FINDING_FIELDS",
    "FINDING_FIELDS_OF_ROW",
    "INSERTION_FIELDS",
    "IN_ERROR",
    "LIMITS",
    "ROW_GONE",
    "SESSION_CARRIED",
    "SESSION_FIELDS",
    "SIGNED",
    "STIMULATION_FIELDS",
    "addendum_add",
    "adverse_event_enter_in_error",
    "adverse_event_record",
    "adverse_event_update",
    "aftercare_issue",
    "assessment_sign",
    "assessment_start",
    "assessment_update",
    "clean_factors",
    "clean_text",
    "consent_record",
    "consent_sign",
    "consent_status",
    "consent_withdraw",
    "current_screening",
    "current_template",
    "entered_in_error",
    "finding_add",
    "finding_remove",
    "insertion_add",
    "insertion_remove",
    "insertion_update",
    "needle_size_add",
    "needle_size_retire",
    "needle_sizes",
    "pain_mark_remove",
    "pain_mark_set",
    "plan_item",
    "screen_plan",
    "screening_record",
    "session_sign",
    "session_start",
    "session_update",
    "sign_checks",
    "sign_problems",
    "template_new_version",
    "training_statement",
]
