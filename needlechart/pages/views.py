"""Pages that show several apps' records together: the working day, the patient list with
each patient's standing in care, a patient, and an episode of care with its charting and
progress. They sit above the apps they read, so no app needs to import another above it."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from needlechart.accounts import access, rules
from needlechart.charting import selectors as chart_selectors
from needlechart.charting.views import every_row
from needlechart.documents import selectors as document_selectors
from needlechart.outcomes import views as outcome_views
from needlechart.pages import selectors as page_selectors
from needlechart.patients import selectors
from needlechart.patients.forms import PatientSearchForm
from needlechart.patients.models import EpisodeOfCare
from needlechart.portal import selectors as portal_selectors


@access.staff()
def home(request: HttpRequest) -> HttpResponse:
    """A clinician's day; the front desk starts at the patient list."""
    if not rules.has_role(request.user, rules.CLINICAL_READ_ROLES):
        return redirect("patients:list")
    can_write = rules.has_role(request.user, rules.CLINICAL_WRITE_ROLES)
    day = page_selectors.working_day(user=request.user, pages=request.GET)
    # What patients reported from the portal, as on the dashboard, for those who act on it.
    attention = portal_selectors.clinic_attention(request.user) if can_write else {}
    return render(
        request,
        "patients/home.html",
        {"day": day, "attention": attention, "can_write": can_write},
    )


@access.staff()
def patient_list(request: HttpRequest) -> HttpResponse:
    form = PatientSearchForm(
        request.GET or None,
        care=rules.has_role(request.user, rules.CLINICAL_READ_ROLES),
        mine=rules.has_role(request.user, rules.CLINICAL_WRITE_ROLES),
    )
    filters = page_selectors.PatientFilters()
    if form.is_valid():
        filters = page_selectors.PatientFilters(**form.cleaned_data)
    page = page_selectors.patient_search_page(
        user=request.user, filters=filters, page_number=request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "patients/patient_list.html",
        {"form": form, "page": page, "filters": filters, "query": query.urlencode()},
    )


@access.staff(selectors.patient_in_clinic)
def patient_detail(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = selectors.patient_get(user=request.user, patient_id=patient_id)
    episodes = selectors.patient_page_episodes(
        user=request.user, patient=patient, every=every_row(request)
    )
    portal = portal_selectors.portal_standing(user=request.user, patient=patient)
    starts = []
    if rules.has_role(request.user, rules.NEEDLING_ROLES):
        # The routine visit starts here: one step from the patient to a session.
        starts = chart_selectors.start_readiness_many(
            user=request.user,
            patient=patient,
            episodes=[e for e in episodes if e.status == EpisodeOfCare.Status.ACTIVE],
        )
    documents = document_selectors.patient_documents(
        user=request.user, patient=patient, page=request.GET.get("documents")
    )
    return render(
        request,
        "patients/patient_detail.html",
        {
            "patient": patient,
            "episodes": episodes,
            "portal": portal,
            "starts": starts,
            "documents": documents,
            "record_job": document_selectors.record_job(user=request.user, patient=patient),
            "issuable_consents": document_selectors.issuable_consents(
                user=request.user, patient=patient
            ),
        },
    )


@access.clinical_read(selectors.episode_in_clinic)
def episode_detail(request: HttpRequest, episode_id: int) -> HttpResponse:
    episode = selectors.episode_get(user=request.user, episode_id=episode_id)
    safety = chart_selectors.safety(episode)
    readiness = None
    if (
        rules.has_role(request.user, rules.NEEDLING_ROLES)
        and episode.status == EpisodeOfCare.Status.ACTIVE
    ):
        readiness = chart_selectors.start_readiness(
            user=request.user, episode=episode, safety_now=safety
        )
    return render(
        request,
        "patients/episode_detail.html",
        {
            "episode": episode,
            "patient": episode.patient,
            "safety": safety,
            "readiness": readiness,
            "can_write": rules.has_role(request.user, rules.CLINICAL_WRITE_ROLES),
            "can_needle": rules.has_role(request.user, rules.NEEDLING_ROLES),
            **chart_selectors.episode_records(episode),
            "letters": document_selectors.episode_letters(
                user=request.user, episode=episode, every=every_row(request)
            ),
            **outcome_views.progress_context(episode),
        },
    )
