from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from needlechart.accounts import access, rules
from needlechart.accounts import selectors as accounts_selectors
from needlechart.charting import selectors as chart_selectors
from needlechart.forms import posted, submit
from needlechart.outcomes import views as outcome_views
from needlechart.patients import selectors, services
from needlechart.patients.forms import EpisodeForm, PatientForm, PatientSearchForm
from needlechart.patients.models import EpisodeOfCare
from needlechart.portal import selectors as portal_selectors


@access.staff()
def home(request: HttpRequest) -> HttpResponse:
    """A clinician's day; the front desk starts at the patient list."""
    if not rules.has_role(request.user, rules.CLINICAL_READ_ROLES):
        return redirect("patients:list")
    can_write = rules.has_role(request.user, rules.CLINICAL_WRITE_ROLES)
    day = selectors.working_day(user=request.user)
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
    filters = selectors.PatientFilters()
    if form.is_valid():
        filters = selectors.PatientFilters(**form.cleaned_data)
    page = selectors.patient_search_page(
        user=request.user, filters=filters, page_number=request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "patients/patient_list.html",
        {"form": form, "page": page, "filters": filters, "query": query.urlencode()},
    )


@access.staff()
def patient_create(request: HttpRequest) -> HttpResponse:
    form = PatientForm(posted(request), creating=True)
    if request.method == "POST":
        patient = submit(
            form, lambda: services.patient_create(actor=request.user, **form.cleaned_data)
        )
        if patient is not None:
            messages.success(request, f"{patient.full_name} was registered.")
            if request.POST.get("then") == "episode" and rules.has_role(
                request.user, rules.CLINICAL_WRITE_ROLES
            ):
                return redirect("patients:episode_create", patient_id=patient.pk)
            return redirect("patients:detail", patient_id=patient.pk)
    extra = []
    if rules.has_role(request.user, rules.CLINICAL_WRITE_ROLES):
        # A first visit goes straight on to the episode of care.
        extra = [("then", "episode", "Save and open an episode of care")]
    return render(
        request,
        "form_page.html",
        {
            "form": form,
            "title": "New patient",
            "cancel_url": reverse("patients:list"),
            "extra_buttons": extra,
        },
    )


@access.staff(selectors.patient_in_clinic)
def patient_detail(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = selectors.patient_get(user=request.user, patient_id=patient_id)
    episodes = selectors.patient_episodes(user=request.user, patient=patient)
    portal = portal_selectors.portal_standing(user=request.user, patient=patient)
    starts = []
    if rules.has_role(request.user, rules.NEEDLING_ROLES):
        # The routine visit starts here: one step from the patient to a session.
        starts = chart_selectors.start_readiness_many(
            user=request.user,
            patient=patient,
            episodes=[e for e in episodes if e.status == EpisodeOfCare.Status.ACTIVE],
        )
    return render(
        request,
        "patients/patient_detail.html",
        {"patient": patient, "episodes": episodes, "portal": portal, "starts": starts},
    )


@access.staff(selectors.patient_in_clinic)
def patient_edit(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = selectors.patient_get(user=request.user, patient_id=patient_id)
    form = PatientForm(posted(request), instance=patient)
    if request.method == "POST":
        saved = submit(
            form,
            lambda: services.patient_update(
                actor=request.user, patient=patient, **form.cleaned_data
            ),
        )
        if saved is not None:
            messages.success(request, f"{saved.full_name}'s details were saved.")
            return redirect("patients:detail", patient_id=saved.pk)
    return render(
        request,
        "form_page.html",
        {
            "form": form,
            "patient": patient,
            "title": f"Edit {patient.full_name}",
            "cancel_url": reverse("patients:detail", args=[patient.pk]),
        },
    )


@access.clinical_write(selectors.patient_in_clinic)
def episode_create(request: HttpRequest, patient_id: int) -> HttpResponse:
    patient = selectors.patient_get(user=request.user, patient_id=patient_id)
    practitioners = accounts_selectors.practitioner_choices(user=request.user)
    own = getattr(request.user, "practitioner", None)
    form = EpisodeForm(
        posted(request),
        practitioners=practitioners,
        initial={"care_manager": own.pk if own else None},
    )
    if request.method == "POST":
        episode = submit(
            form,
            lambda: services.episode_create(
                actor=request.user, patient=patient, **form.cleaned_data
            ),
        )
        if episode is not None:
            # The first step of care in the episode is the health screening.
            messages.success(request, f"Episode of care opened: {episode}. Next: the screening.")
            return redirect("charting:screening", episode_id=episode.pk)
    return render(
        request,
        "form_page.html",
        {
            "form": form,
            "patient": patient,
            "title": "New episode of care",
            "cancel_url": reverse("patients:detail", args=[patient.pk]),
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
            **outcome_views.progress_context(episode),
        },
    )


@access.clinical_write(selectors.episode_in_clinic)
def episode_edit(request: HttpRequest, episode_id: int) -> HttpResponse:
    episode = selectors.episode_get(user=request.user, episode_id=episode_id)
    practitioners = accounts_selectors.practitioner_choices(
        user=request.user, keep_id=episode.care_manager_id
    )
    form = EpisodeForm(
        posted(request),
        instance=episode,
        practitioners=practitioners,
    )
    if request.method == "POST":
        saved = submit(
            form,
            lambda: services.episode_update(
                actor=request.user, episode=episode, **form.cleaned_data
            ),
        )
        if saved is not None:
            messages.success(request, "Episode of care saved.")
            return redirect("patients:episode", episode_id=saved.pk)
    return render(
        request,
        "form_page.html",
        {
            "form": form,
            "patient": episode.patient,
            "title": "Edit episode",
            "cancel_url": reverse("patients:episode", args=[episode.pk]),
        },
    )
