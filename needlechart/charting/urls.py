from django.urls import path

from needlechart.charting import session_views, views

app_name = "charting"
urlpatterns = [
    path("episodes/<int:episode_id>/screening/", views.screening, name="screening"),
    path("patients/<int:patient_id>/consent/", views.consent, name="consent"),
    path("consents/<int:consent_id>/withdraw/", views.consent_withdraw, name="consent_withdraw"),
    path("patients/<int:patient_id>/timeline/", views.timeline, name="timeline"),
    path("episodes/<int:episode_id>/assessments/new/", views.assessment_new, name="assessment_new"),
    path("assessments/<int:assessment_id>/", views.assessment, name="assessment"),
    path("assessments/<int:assessment_id>/pain/", views.assessment_pain, name="assessment_pain"),
    path(
        "assessments/<int:assessment_id>/findings/",
        views.assessment_finding,
        name="assessment_finding",
    ),
    path("findings/<int:finding_id>/remove/", views.finding_remove, name="finding_remove"),
    path("assessments/<int:assessment_id>/note/", views.assessment_note, name="assessment_note"),
    path("assessments/<int:assessment_id>/sign/", views.assessment_sign, name="assessment_sign"),
    path(
        "assessments/<int:assessment_id>/addenda/new/",
        views.assessment_addendum,
        name="assessment_addendum",
    ),
    path("episodes/<int:episode_id>/sessions/new/", session_views.session_new, name="session_new"),
    path("sessions/<int:session_id>/", session_views.session, name="session"),
    path("sessions/<int:session_id>/rows/", session_views.session_row, name="session_row"),
    path(
        "sessions/<int:session_id>/rows/<int:insertion_id>/",
        session_views.session_row_update,
        name="session_row_update",
    ),
    path(
        "sessions/<int:session_id>/rows/<int:insertion_id>/edit/",
        session_views.session_row_edit,
        name="session_row_edit",
    ),
    path(
        "sessions/<int:session_id>/rows/<int:insertion_id>/findings/",
        session_views.session_row_findings,
        name="session_row_findings",
    ),
    path(
        "sessions/<int:session_id>/rows/<int:insertion_id>/remove/",
        session_views.session_row_remove,
        name="session_row_remove",
    ),
    path(
        "sessions/<int:session_id>/details/",
        session_views.session_details,
        name="session_details",
    ),
    path("sessions/<int:session_id>/sign/", session_views.session_sign, name="session_sign"),
    path("sessions/<int:session_id>/addenda/new/", views.session_addendum, name="session_addendum"),
    path(
        "sessions/<int:session_id>/adverse-events/new/",
        views.adverse_event_new,
        name="adverse_event_new",
    ),
    path("adverse-events/<int:event_id>/", views.adverse_event_edit, name="adverse_event_edit"),
    path(
        "adverse-events/<int:event_id>/entered-in-error/",
        views.adverse_event_error,
        name="adverse_event_error",
    ),
    path("sessions/<int:session_id>/aftercare/", views.aftercare, name="aftercare"),
    path("clinic/", views.clinic_settings, name="clinic"),
    path("clinic/documents/<slug:kind>/", views.clinic_document, name="clinic_document"),
    path("clinic/needles/", views.clinic_needles, name="clinic_needles"),
]
