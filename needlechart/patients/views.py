"""Registering and editing patients and their episodes of care. The pages that show a
patient or an episode with their care are in `needlechart.pages`."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from needlechart.accounts import access, rules
from needlechart.accounts import selectors as accounts_selectors
from needlechart.forms import posted, submit
from needlechart.patients import selectors, services
from needlechart.patients.forms import EpisodeForm, PatientForm


@access.staff()
def patient_create(request: HttpRequest) -> HttpResponse:
    form = PatientForm(posted(request), creating=True)
    if request.method == "POST":
        patient = submit(
            form,
            lambda: services.patient_create(
                actor=request.user, token=request.POST.get("form_token", ""), **form.cleaned_data
            ),
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
            "with_token": True,
        },
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
