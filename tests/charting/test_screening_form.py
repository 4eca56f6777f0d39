"""The screening form offers every factor with its details, and refuses details out of
range by name, beside their field."""

import pytest
from django.urls import reverse

from needlechart import knowledge
from needlechart.charting import services
from needlechart.charting.forms import ClinicianScreeningForm, ScreeningForm
from tests.conftest import client_for


def form(data: dict, cls=ScreeningForm, **kwargs) -> ScreeningForm:
    bound = cls(data, **kwargs)
    bound.is_valid()
    return bound


def test_every_factor_is_offered_with_a_field_for_each_detail():
    fields = ScreeningForm().fields
    for rule in knowledge.factor_rules():
        assert fields[f"f_{rule.code}"].label == rule.label
        for param in rule.params:
            assert f"{rule.code}__{param}" in fields, (rule.code, param)
    assert fields["anticoagulant__inr_target"].label == "INR target range"
    assert fields["bleeding-disorder__platelets"].label == "Platelet count (\u00d710\u2079/L)"
    kinds = dict(fields["anticoagulant__drug_class"].choices)
    assert kinds["vitamin-k-antagonist"].startswith("Warfarin")
    assert dict(fields["bleeding-disorder__severity"].choices)["severe"] == "Severe"
    assert set(dict(fields["dvt__status"].choices)) == {"", "suspected", "treated"}


def test_the_new_details_reach_the_engine_as_it_reads_them():
    bound = form({
        "f_anticoagulant": "on", "anticoagulant__drug": "warfarin",
        "anticoagulant__drug_class": "vitamin-k-antagonist", "anticoagulant__inr": "3.1",
        "anticoagulant__inr_target": "2.5-3.5",
        "f_bleeding-disorder": "on", "bleeding-disorder__severity": "moderate",
        "bleeding-disorder__platelets": "80",
        "f_dvt": "on", "dvt__limb": "leg", "dvt__side": "left", "dvt__status": "treated",
        "f_breast-implant": "on", "breast-implant__side": "right",
        "f_fainting-history": "on",
    })  # fmt: skip
    assert bound.errors == {}
    factors = bound.factors()
    assert factors == [
        {"code": "anticoagulant", "drug": "warfarin", "drug_class": "vitamin-k-antagonist",
         "inr": 3.1, "inr_target": "2.5-3.5"},
        {"code": "bleeding-disorder", "severity": "moderate", "platelets": 80.0},
        {"code": "dvt", "limb": "leg", "side": "left", "status": "treated"},
        {"code": "breast-implant", "side": "right"},
        {"code": "fainting-history"},
    ]  # fmt: skip
    parsed = knowledge.screen(factors, [{"muscle": "piriformis", "side": "right"}])
    assert parsed.items[0].verdict == "caution"  # INR 3.1 is within its own 2.5-3.5 target


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"f_anticoagulant": "on", "anticoagulant__inr": "20"}, "anticoagulant__inr",
         "The INR must be a number from 0.5 to 15."),
        ({"f_anticoagulant": "on", "anticoagulant__inr": "high"}, "anticoagulant__inr",
         "The INR must be a number from 0.5 to 15."),
        ({"f_anticoagulant": "on", "anticoagulant__inr_target": "3.5-2.5"},
         "anticoagulant__inr_target", "INR target range must be two numbers from 1 to 5"),
        ({"f_bleeding-disorder": "on", "bleeding-disorder__platelets": "5000"},
         "bleeding-disorder__platelets", "The platelet count must be a number from 0 to 1500"),
        ({"f_bleeding-disorder": "on", "bleeding-disorder__platelets": "-3"},
         "bleeding-disorder__platelets", "The platelet count must be a number from 0 to 1500"),
        ({"f_pregnancy": "on", "pregnancy__trimester": "4"}, "pregnancy__trimester",
         "The trimester must be 1, 2 or 3."),
        ({"f_anticoagulant": "on", "anticoagulant__drug_class": "tea"},
         "anticoagulant__drug_class", "Choose one of the listed values of kind of medicine."),
    ],
)  # fmt: skip
def test_details_out_of_range_are_refused_by_name_beside_their_field(data, field, message):
    bound = form(data)
    assert not bound.is_valid()
    assert any(message in error for error in bound.errors[field]), bound.errors


def test_a_detail_of_an_unticked_factor_is_not_checked_against_the_engine():
    bound = form({"anticoagulant__inr_target": "9-1", "f_diabetes": "on"})
    assert bound.is_valid(), bound.errors
    assert bound.factors() == [{"code": "diabetes"}]


def test_the_patients_questionnaire_asks_only_the_details_a_patient_knows():
    class PatientForm(ScreeningForm):
        patient_facing = True

    fields = PatientForm().fields
    assert "anticoagulant__inr" in fields and "anticoagulant__drug" in fields
    assert "anticoagulant__inr_target" not in fields
    assert "bleeding-disorder__platelets" not in fields
    assert "dvt__limb" in fields  # rules without patient_params ask every detail
    bound = form({"f_anticoagulant": "on", "anticoagulant__inr_target": "2-3"}, PatientForm)
    assert bound.factors() == [{"code": "anticoagulant"}]


def test_a_stored_target_range_is_shown_as_the_clinician_typed_it():
    bound = ScreeningForm(
        initial_factors=[{"code": "anticoagulant", "inr": 2.4, "inr_target": [2.5, 3.5]}]
    )
    assert bound["anticoagulant__inr_target"].value() == "2.5-3.5"
    assert bound["f_anticoagulant"].value() is True


def test_the_screening_page_records_the_new_factors_and_the_banner_names_them(world):
    client = client_for(world.practitioner)
    response = client.post(
        reverse("charting:screening", args=[world.episode_a.pk]),
        {"f_fainting-history": "on", "f_lymphedema-risk": "on", "lymphedema-risk__limb": "arm",
         "lymphedema-risk__side": "right", "f_malignancy": "on",
         "malignancy__regions": ["thigh-anterior-left"], "f_psychological": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    assert services.current_screening(world.episode_a).factors == [
        {"code": "lymphedema-risk", "limb": "arm", "side": "right"},
        {"code": "malignancy", "regions": ["thigh-anterior-left"]},
        {"code": "fainting-history"},
        {"code": "psychological"},
    ]
    page = client.get(reverse("patients:episode", args=[world.episode_a.pk])).content.decode()
    assert "Has fainted with needles or blood tests" in page
    assert "Cancer at or near the treatment area" in page


def test_the_screening_page_refuses_an_inr_out_of_range_and_keeps_the_old_screening(world):
    services.screening_record(actor=world.practitioner, episode=world.episode_a, factors=[])
    response = client_for(world.practitioner).post(
        reverse("charting:screening", args=[world.episode_a.pk]),
        {"f_anticoagulant": "on", "anticoagulant__inr": "22"},
    )
    assert response.status_code == 200
    assert "The INR must be a number from 0.5 to 15." in response.content.decode()
    assert services.current_screening(world.episode_a).factors == []


def test_the_clinician_form_still_asks_for_none_of_these_apply():
    bound = form({}, ClinicianScreeningForm)
    assert not bound.is_valid()
    assert "None of these apply" in str(bound.non_field_errors())
