import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from needlechart import knowledge
from needlechart.knowledge.safety import ORDER


def verdicts(result) -> dict[tuple[str, str | None, str], str]:
    return {(i.item.muscle, i.item.side, i.item.technique): i.verdict for i in result.items}


def item(muscle, side="left", technique="dry-needling") -> dict:
    return {"muscle": muscle, "side": side, "technique": technique}


def test_no_factor_and_a_muscle_with_nothing_beneath_is_allowed():
    result = knowledge.screen([], [item("gastrocnemius")])
    assert result.patient.verdict == "allowed" and result.patient.reasons == ()
    assert result.items[0].verdict == "allowed"


@pytest.mark.parametrize(
    "code", ["no-consent", "unable-to-consent", "needle-phobia", "medical-emergency"]
)
def test_whole_patient_contraindications_bar_every_item(code):
    result = knowledge.screen([{"code": code}], [item("gastrocnemius"), item("deltoid", "right")])
    assert result.patient.verdict == "contraindicated"
    assert {i.verdict for i in result.items} == {"contraindicated"}


def test_lymphedema_of_the_left_arm_blocks_left_arm_and_forearm_muscles_only():
    result = knowledge.screen(
        [{"code": "lymphedema", "limb": "arm", "side": "left"}],
        [item("extensor-digitorum"), item("biceps-brachii"), item("extensor-digitorum", "right"),
         item("gastrocnemius"), item("gluteus-medius")],
    )  # fmt: skip
    assert result.patient.verdict == "caution"
    assert verdicts(result) == {
        ("extensor-digitorum", "left", "dry-needling"): "contraindicated",
        ("biceps-brachii", "left", "dry-needling"): "contraindicated",
        ("extensor-digitorum", "right", "dry-needling"): "allowed",
        ("gastrocnemius", "left", "dry-needling"): "allowed",
        ("gluteus-medius", "left", "dry-needling"): "allowed",
    }  # fmt: skip
    blocked = result.items[0]
    assert any(r.code == "lymphedema" and "left arm" in r.text for r in blocked.reasons)


def test_lymphedema_without_a_side_is_taken_as_both_sides():
    result = knowledge.screen(
        [{"code": "lymphedema", "limb": "leg"}], [item("soleus", "left"), item("soleus", "right")]
    )
    assert {i.verdict for i in result.items} == {"contraindicated"}


def test_a_local_infection_blocks_muscles_needled_through_that_region_only():
    result = knowledge.screen(
        [{"code": "local-infection", "regions": ["calf-left"]}],
        [item("gastrocnemius"), item("gastrocnemius", "right"), item("tibialis-anterior")],
    )
    assert [i.verdict for i in result.items] == ["contraindicated", "allowed", "allowed"]


def test_a_pacemaker_blocks_electrical_stimulation_but_not_plain_needling():
    result = knowledge.screen(
        [{"code": "pacemaker"}],
        [item("gastrocnemius"), item("gastrocnemius", technique="electrical-stimulation")],
    )
    assert [i.verdict for i in result.items] == ["allowed", "contraindicated"]
    assert result.patient.verdict == "caution"


def test_a_nerve_or_vessel_beneath_is_a_note_that_does_not_change_the_verdict():
    result = knowledge.screen([], [item("gastrocnemius")]).items[0]
    assert result.verdict == "allowed"
    assert {n.code for n in result.notes} == {"structure-major-vessel", "structure-nerve"}


def test_a_vessel_beneath_becomes_a_caution_when_the_patient_bleeds_easily():
    result = knowledge.screen([{"code": "anticoagulant"}], [item("gastrocnemius")]).items[0]
    vessel = next(r for r in result.reasons if r.code == "structure-major-vessel")
    assert "because of: anticoagulant" in vessel.text
    assert {n.code for n in result.notes} == {"structure-nerve"}


def test_a_muscle_over_the_lung_raises_a_pneumothorax_caution_even_without_factors():
    result = knowledge.screen([], [item("upper-trapezius")])
    assert result.items[0].verdict == "caution"
    texts = " ".join(r.text for r in result.items[0].reasons)
    assert "pneumothorax" in texts.lower() and "lung" in texts.lower()


@pytest.mark.parametrize("factor", ["emphysema", "prior-thoracic-surgery", "lung-disease"])
def test_lung_risk_factors_add_their_own_reason_on_muscles_over_the_lung_only(factor):
    result = knowledge.screen([{"code": factor}], [item("rhomboids"), item("gastrocnemius")])
    over_lung, calf = result.items
    assert factor in {r.code for r in over_lung.reasons}
    assert factor not in {r.code for r in calf.reasons}
    assert calf.verdict == "allowed"
    plain = knowledge.screen([], [item("rhomboids")]).items[0]
    assert len(over_lung.reasons) > len(plain.reasons)


def test_anticoagulants_are_a_caution_that_records_the_drug_and_inr():
    result = knowledge.screen([{"code": "anticoagulant", "drug": "warfarin", "inr": 2.6}], [])
    assert result.patient.verdict == "caution"
    assert "warfarin; INR 2.6" in result.patient.reasons[0].text
    assert result.patient.reasons[0].source.startswith("Muñoz 2022")


def test_pregnancy_is_stronger_over_the_abdomen_and_low_back():
    result = knowledge.screen(
        [{"code": "pregnancy", "trimester": 1}], [item("rectus-abdominis"), item("deltoid")]
    )
    abdomen, shoulder = result.items
    assert any("First trimester" in r.text for r in abdomen.reasons)
    assert not any("First trimester" in r.text for r in shoulder.reasons)
    assert shoulder.verdict == "caution"


def test_a_clinic_may_make_systemic_infection_a_block_but_not_soften_a_contraindication():
    strict = knowledge.screen(
        [{"code": "systemic-infection"}], [item("gastrocnemius")],
        policy={"systemic-infection": "contraindicated"},
    )  # fmt: skip
    assert strict.patient.verdict == "contraindicated"
    with pytest.raises(knowledge.InvalidInput):
        knowledge.screen([{"code": "no-consent"}], policy={"no-consent": "caution"})


@pytest.mark.parametrize(
    ("factors", "plan", "message"),
    [
        ([{"code": "bogus"}], [], "unknown screening factor: 'bogus'"),
        ([], [item("nosuchmuscle")], "unknown muscle: 'nosuchmuscle'"),
        ([], [item("deltoid", technique="laser")], "unknown technique: 'laser'"),
        (
            [{"code": "local-infection", "regions": ["nose-left"]}],
            [],
            "unknown region: 'nose-left'",
        ),
        ([{"code": "lymphedema", "limb": "tail"}], [], "needs limb 'arm' or 'leg'"),
        ([{"code": "pregnancy", "trimester": 4}], [], "trimester must be 1, 2 or 3"),
        ([{"code": "diabetes", "limb": "arm"}], [], "factor diabetes does not take limb"),
        ([], [item("deltoid", side="middle")], "side must be 'left' or 'right'"),
    ],
)
def test_bad_input_is_an_error_naming_what_was_not_understood(factors, plan, message):
    with pytest.raises((knowledge.UnknownCode, knowledge.InvalidInput), match=message):
        knowledge.screen(factors, plan)


FACTOR_CHOICES = [
    {"code": "no-consent"}, {"code": "needle-phobia"}, {"code": "anticoagulant"},
    {"code": "pacemaker"}, {"code": "emphysema"}, {"code": "pregnancy", "trimester": 1},
    {"code": "lymphedema", "limb": "arm", "side": "left"},
    {"code": "lymphedema", "limb": "leg"},
    {"code": "local-infection", "regions": ["calf-left", "shoulder-top"]},
    {"code": "joint-surgery", "regions": ["knee-anterior-right"]},
    {"code": "systemic-infection"}, {"code": "epilepsy"}, {"code": "child"},
    {"code": "bleeding-disorder", "platelets": 30}, {"code": "low-body-mass"},
    {"code": "lymphedema-risk", "limb": "leg", "side": "right"},
    {"code": "malignancy", "regions": ["thigh-anterior-left"]},
    {"code": "impaired-sensation", "regions": ["calf"]}, {"code": "fainting-history"},
    {"code": "dvt", "limb": "arm", "status": "treated"},
    {"code": "breast-implant", "side": "left"},
]  # fmt: skip
MUSCLES = sorted(m.slug for m in knowledge.muscles())


def _item_with_lead(muscle, side, technique, lead) -> dict:
    data = item(muscle, side, technique)
    if technique == "electrical-stimulation" and lead is not None:
        data["lead_to"] = {"muscle": lead[0], "side": lead[1]}
    return data


plans = st.lists(
    st.builds(
        _item_with_lead,
        st.sampled_from(MUSCLES),
        st.sampled_from(["left", "right"]),
        st.sampled_from(["dry-needling", "electrical-stimulation"]),
        st.none() | st.tuples(st.sampled_from(MUSCLES), st.sampled_from(["left", "right", None])),
    ),
    max_size=5,
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(range(len(FACTOR_CHOICES))), unique=True, max_size=6), plans, st.data()
)
def test_removing_a_factor_never_makes_a_verdict_stricter(chosen, plan, data):
    factors = [FACTOR_CHOICES[i] for i in chosen]
    full = knowledge.screen(factors, plan)
    assert full == knowledge.screen(factors, plan)  # deterministic
    if not factors:
        return
    dropped = data.draw(st.integers(0, len(factors) - 1))
    fewer = knowledge.screen(factors[:dropped] + factors[dropped + 1 :], plan)
    assert ORDER[fewer.patient.verdict] <= ORDER[full.patient.verdict]
    for before, after in zip(full.items, fewer.items, strict=True):
        assert ORDER[after.verdict] <= ORDER[before.verdict]


def test_lymphedema_of_the_arm_is_a_caution_for_muscles_needled_at_its_root():
    result = knowledge.screen(
        [{"code": "lymphedema", "limb": "arm", "side": "left"}],
        [item("latissimus-dorsi"), item("serratus-anterior"), item("latissimus-dorsi", "right")],
    )
    latissimus, serratus, other_side = result.items
    assert {r.code for r in latissimus.reasons} >= {"lymphedema-root"}
    assert "lymphedema-root" in {r.code for r in serratus.reasons}
    assert "lymphedema-root" not in {r.code for r in other_side.reasons}
    assert latissimus.verdict == "caution"


def test_knee_surgery_is_a_caution_for_the_muscles_that_cross_the_knee():
    result = knowledge.screen(
        [{"code": "joint-surgery", "regions": ["knee-anterior-right"]}],
        [item("vastus-intermedius", "right"), item("gastrocnemius", "right"),
         item("vastus-intermedius", "left"), item("deltoid", "right")],
    )  # fmt: skip
    assert [i.verdict for i in result.items] == ["caution", "caution", "allowed", "allowed"]


def test_stronger_cautions_are_marked_high():
    plain = knowledge.screen([], [item("upper-trapezius")]).items[0]
    strong = knowledge.screen([{"code": "emphysema"}], [item("upper-trapezius")]).items[0]
    assert plain.verdict == strong.verdict == "caution"
    assert (plain.level, strong.level) == ("standard", "high")
    assert strong.as_json()["caution_level"] == "high"
    early = knowledge.screen([{"code": "pregnancy", "trimester": 1}], [item("rectus-abdominis")])
    assert early.items[0].level == "high"


@pytest.mark.parametrize(
    ("factors", "plan", "message"),
    [
        ([{"code": "local-infection", "regions": [["a"]]}], [], "regions must be a list of region ids"),
        ([{"code": "local-infection", "regions": "buttock-left"}], [], "regions must be a list"),
        ([{"code": "anticoagulant", "drug": 5}], [], "drug must be text"),
        ([{"code": "anticoagulant", "inr": True}], [], "INR must be a number"),
        ([{"code": "pregnancy", "trimester": True}], [], "trimester must be 1, 2 or 3"),
        ([{"code": "pregnancy", "trimester": 1.0}], [], "trimester must be 1, 2 or 3"),
        ([{"code": "diabetes"}, {"code": "diabetes"}], [], "factor diabetes is given twice"),
        (["diabetes"], [], "a factor is an object with a code"),
        ([], [{"muscle": "deltoid", "technique": ["x"]}], "technique must be text"),
        ([], [{"muscle": 5}], "a plan item is an object with a muscle"),
        ([], [{"muscle": "deltoid", "side": ""}], "side must be 'left' or 'right'"),
    ],
)  # fmt: skip
def test_malformed_input_is_an_error_naming_the_problem(factors, plan, message):
    with pytest.raises((knowledge.UnknownCode, knowledge.InvalidInput), match=message):
        knowledge.screen(factors, plan)


def test_lymphedema_may_be_given_for_each_limb():
    result = knowledge.screen(
        [{"code": "lymphedema", "limb": "arm", "side": "left"},
         {"code": "lymphedema", "limb": "leg", "side": "right"}],
        [item("biceps-brachii", "left"), item("soleus", "right"), item("soleus", "left")],
    )  # fmt: skip
    assert [i.verdict for i in result.items][:2] == ["contraindicated", "contraindicated"]
