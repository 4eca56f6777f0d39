from django.urls import path

from needlechart.portal import staff_views, views

app_name = "portal"

urlpatterns = [
    # The patient's side.
    path("portal/", views.home, name="home"),
    path("portal/login/", views.sign_in, name="login"),
    path("portal/logout/", views.sign_out, name="logout"),
    path("portal/session/keepalive/", views.session_keepalive, name="session_keepalive"),
    path("portal/two-factor/", views.two_factor_setup, name="two_factor_setup"),
    path("portal/two-factor/verify/", views.two_factor_verify, name="two_factor_verify"),
    path("portal/password-reset/", views.password_reset, name="password_reset"),
    path("portal/password-reset/sent/", views.password_reset_done, name="password_reset_done"),
    path(
        "portal/reset/<uidb64>/<token>/",
        views.password_reset_confirm,
        name="password_reset_confirm",
    ),
    path("portal/reset/done/", views.password_reset_complete, name="password_reset_complete"),
    path("portal/invite/<str:token>/", views.invite, name="invite"),
    path("portal/questionnaire/", views.questionnaire, name="questionnaire"),
    path("portal/consent/", views.consent, name="consent"),
    path("portal/learn/", views.learn, name="learn"),
    path("portal/learn/<slug:slug>/", views.learn_page, name="learn_page"),
    path("portal/sessions/<int:session_id>/", views.session, name="session"),
    path(
        "portal/sessions/<int:session_id>/check-in/<int:hours>/",
        views.check_in,
        name="check_in",
    ),
    path("portal/diary/", views.diary, name="diary"),
    path("portal/review/", views.review, name="review"),
    path("portal/progress/", views.progress, name="progress"),
    path("portal/my-record/", views.record, name="record"),
    path("portal/my-record.json", views.record_json, name="record_json"),
    path("portal/documents/", views.documents, name="documents"),
    path("portal/documents/<int:document_id>/", views.document, name="document"),
    # The staff side.
    path("patients/<int:patient_id>/privacy/", staff_views.privacy_requests, name="privacy"),
    path(
        "patients/<int:patient_id>/privacy/everything.json",
        staff_views.privacy_export,
        name="privacy_export",
    ),
    path(
        "patients/<int:patient_id>/portal-invitation/",
        staff_views.invite_patient,
        name="invite_patient",
    ),
    path(
        "questionnaires/<int:questionnaire_id>/",
        staff_views.questionnaire_review,
        name="questionnaire_review",
    ),
    path(
        "questionnaires/<int:questionnaire_id>/dismiss/",
        staff_views.questionnaire_dismiss,
        name="questionnaire_dismiss",
    ),
    path("reported-effects/<int:effect_id>/", staff_views.effect_confirm, name="effect_confirm"),
    path(
        "reported-effects/<int:effect_id>/dismiss/",
        staff_views.effect_dismiss,
        name="effect_dismiss",
    ),
    path(
        "check-ins/<int:check_in_id>/acknowledge/",
        staff_views.alert_acknowledge,
        name="alert_acknowledge",
    ),
]
