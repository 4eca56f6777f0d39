"""The safety rules of the second edition, each tested both ways: the case that must
escalate and its neighbour that must not (docs/knowledge.md, "What changed")."""

import json

import pytest

from needlechart import knowledge
from needlechart.knowledge import loader, safety

ESTIM = "electrical-stimulation"


def item(muscle, side="left", technique="dry-needling", lead=None) -> dict:
    data = {"muscle": muscle, "side": side, "technique": technique}
    if lead is not None:
        data["lead_to"] = lead
    return data


def pair(muscle, side, lead_muscle, lead_side) -> dict:
    return item(muscle, side, ESTIM, {"muscle": lead_muscle, "side": lead_side})


def one(factors, plan_item):
    return knowledge.screen(factors, [plan_item]).items[0]


def codes(assessed) -> set[str]:
    return {r.code for r in assessed.reasons}


def note_codes(assessed) -> set[str]:
    return {n.code for n in assessed.notes}


# --- lymphedema covers the whole limb ------------------------------------------------------


@pytest.mark.parametrize("muscle", ["deltoid", "teres-minor", "infraspinatus", "coracobrachialis"])
def test_lymphedema_of_the_arm_bars_the_shoulder_muscles_on_that_arm(muscle):
    lymphedema = [{"code": "lymphedema", "limb": "arm", "side": "left"}]
    assert one(lymphedema, item(muscle)).verdict == "contraindicated"
    assert one(lymphedema, item(muscle, "right")).verdict != "contraindicated"


@pytest.mark.parametrize("muscle", ["tensor-fasciae-latae", "gluteus-medius", "gluteus-maximus"])
def test_lymphedema_of_the_leg_bars_the_hip_muscles_on_that_leg(muscle):
    lymphedema = [{"code": "lymphedema", "limb": "leg", "side": "right"}]
    assert one(lymphedema, item(muscle, "right")).verdict == "contraindicated"
    assert one(lymphedema, item(muscle, "left")).verdict == "allowed"


def test_the_armpit_and_groin_stay_a_caution_at_the_root_of_the_limb():
    arm = one([{"code": "lymphedema", "limb": "arm", "side": "left"}], item("serratus-anterior"))
    leg = one([{"code": "lymphedema", "limb": "leg", "side": "left"}], item("pectineus"))
    assert (arm.verdict, leg.verdict) == ("caution", "caution")
    assert "lymphedema-root" in codes(arm) and "lymphedema-root" in codes(leg)


def test_an_at_risk_limb_is_a_caution_in_that_limb_only_and_a_clinic_may_bar_it():
    at_risk = [{"code": "lymphedema-risk", "limb": "arm", "side": "left"}]
    assert one(at_risk, item("biceps-brachii")).verdict == "caution"
    assert "lymphedema-risk" in codes(one(at_risk, item("biceps-brachii")))
    assert one(at_risk, item("biceps-brachii", "right")).verdict == "allowed"
    strict = knowledge.screen(
        at_risk, [item("biceps-brachii")], policy={"lymphedema-risk": "contraindicated"}
    )
    assert strict.items[0].verdict == "contraindicated"
    assert knowledge.factor_rule("lymphedema-risk").sources == ["nln-2012", "de-valois-2024"]


# --- thin bone over the lung ---------------------------------------------------------------


def test_infraspinatus_notes_the_thin_fossa_and_is_a_caution_with_a_lung_risk_factor():
    plain = one([], item("infraspinatus"))
    assert plain.verdict == "allowed"
    lung = next(n for n in plain.notes if n.code == "structure-lung-pleura")
    assert "fossa" in lung.text and "Patel 2019" in lung.source
    emphysema = one([{"code": "emphysema"}], item("infraspinatus"))
    assert emphysema.verdict == "caution" and emphysema.level == "high"
    assert {"emphysema", "structure-lung-pleura"} <= codes(emphysema)


def test_a_thin_chest_wall_is_a_high_caution_over_the_lung_only():
    thin = [{"code": "low-body-mass"}]
    assert one(thin, item("rhomboids")).level == "high"
    assert "low-body-mass" in codes(one(thin, item("infraspinatus")))
    assert one(thin, item("gastrocnemius")).verdict == "allowed"


def test_no_interscapular_muscle_advises_bracketing_a_rib_and_each_cites_the_case():
    for slug in ("rhomboids", "middle-trapezius", "lower-trapezius", "serratus-posterior-superior"):
        lung = next(
            s for s in knowledge.muscle(slug).structures_at_risk if s.structure == "lung-pleura"
        )
        assert "not reliable" in lung.detail, slug
        assert "mintken-2025" in lung.sources, slug


def test_every_muscle_over_the_thorax_carries_the_lung():
    thorax = {"chest", "chest-lateral", "interscapular", "thoracic", "scapula"}
    for entry in knowledge.muscles():
        if thorax & set(entry.needling_regions):
            structures = {s.structure for s in entry.structures_at_risk}
            assert "lung-pleura" in structures, entry.slug


# --- the spinal canal ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "muscle", ["suboccipitals", "cervical-multifidus", "semispinalis-capitis", "lumbar-multifidus"]
)
def test_needling_beside_the_spinal_canal_is_a_caution_and_stronger_with_a_blood_thinner(muscle):
    plain = one([], item(muscle))
    assert plain.verdict == "caution" and "structure-neuraxis" in codes(plain)
    thinned = one([{"code": "anticoagulant", "drug": "apixaban"}], item(muscle))
    neuraxis = next(r for r in thinned.reasons if r.code == "structure-neuraxis")
    assert neuraxis.level == "high" and "epidural" in neuraxis.text
    high_inr = [{"code": "anticoagulant", "drug": "warfarin", "inr": 4.2}]
    assert one(high_inr, item(muscle)).verdict == "contraindicated"


def test_the_spinal_canal_is_not_flagged_away_from_the_spine():
    assert "structure-neuraxis" not in codes(one([], item("upper-trapezius")))
    assert one([{"code": "anticoagulant", "drug": "apixaban"}], item("gastrocnemius")).level == (
        "standard"
    )


# --- anticoagulation made actionable -------------------------------------------------------


def test_an_inr_above_its_target_range_escalates_and_one_within_it_does_not():
    above = knowledge.screen(
        [{"code": "anticoagulant", "drug": "warfarin", "inr": 3.4}], [item("iliopsoas")]
    )
    assert "anticoagulant-inr-above" in {r.code for r in above.patient.reasons}
    assert above.items[0].verdict == "contraindicated"
    within = knowledge.screen(
        [{"code": "anticoagulant", "drug": "warfarin", "inr": 2.6}], [item("iliopsoas")]
    )
    assert {r.code for r in within.patient.reasons} == {"anticoagulant"}
    assert within.items[0].verdict == "caution" and within.items[0].level == "high"


def test_the_patients_own_target_range_replaces_the_usual_one():
    valve = [{"code": "anticoagulant", "drug_class": "vitamin-k-antagonist", "inr": 3.3,
              "inr_target": [2.5, 3.5]}]  # fmt: skip
    assert one(valve, item("piriformis")).verdict == "caution"
    usual = [{"code": "anticoagulant", "drug_class": "vitamin-k-antagonist", "inr": 3.3}]
    assert one(usual, item("piriformis")).verdict == "contraindicated"


def test_warfarin_without_an_inr_escalates_but_a_direct_anticoagulant_does_not_need_one():
    unknown = knowledge.screen([{"code": "anticoagulant", "drug": "Warfarin 5 mg"}], [])
    assert "anticoagulant-inr-unknown" in {r.code for r in unknown.patient.reasons}
    for drug in ("apixaban", "Xarelto", "aspirin 75 mg"):
        known = knowledge.screen([{"code": "anticoagulant", "drug": drug}], [])
        assert {r.code for r in known.patient.reasons} == {"anticoagulant"}, drug


def test_an_unrecorded_blood_thinner_is_treated_as_an_unknown_inr():
    result = knowledge.screen([{"code": "anticoagulant"}], [item("tibialis-posterior")])
    assert "anticoagulant-medicine-unknown" in {r.code for r in result.patient.reasons}
    assert result.items[0].verdict == "contraindicated"
    named = knowledge.screen(
        [{"code": "anticoagulant", "drug_class": "heparin"}], [item("tibialis-posterior")]
    )
    assert named.items[0].verdict == "caution"


@pytest.mark.parametrize(
    "muscle",
    ["iliopsoas", "quadratus-lumborum", "piriformis", "obturator-internus", "tibialis-posterior",
     "flexor-hallucis-longus", "popliteus", "lateral-pterygoid", "medial-pterygoid",
     "subscapularis", "lumbar-multifidus"],
)  # fmt: skip
def test_deep_muscles_that_cannot_be_compressed_are_flagged_only_for_bleeding(muscle):
    assert "structure-non-compressible" in note_codes(one([], item(muscle)))
    for factor in ({"code": "anticoagulant", "drug": "apixaban"}, {"code": "bleeding-disorder"}):
        deep = next(r for r in one([factor], item(muscle)).reasons
                    if r.code == "structure-non-compressible")  # fmt: skip
        assert deep.verdict == "caution" and deep.level == "high"
    assert "structure-non-compressible" not in note_codes(one([], item("deltoid")))


def test_a_severe_bleeding_disorder_or_low_platelets_bars_deep_muscles_only():
    for factor in ({"code": "bleeding-disorder", "severity": "severe"},
                   {"code": "bleeding-disorder", "platelets": 30}):  # fmt: skip
        result = knowledge.screen([factor], [item("piriformis"), item("deltoid")])
        assert [i.verdict for i in result.items] == ["contraindicated", "caution"]
        assert "bleeding-disorder-severe" in {r.code for r in result.patient.reasons}
    mild = knowledge.screen(
        [{"code": "bleeding-disorder", "severity": "mild", "platelets": 120}], [item("piriformis")]
    )
    assert mild.items[0].verdict == "caution"


def test_a_clinic_may_bar_bleeding_disorders():
    result = knowledge.screen(
        [{"code": "bleeding-disorder"}], [item("deltoid")],
        policy={"bleeding-disorder": "contraindicated"},
    )  # fmt: skip
    assert result.patient.verdict == "contraindicated"


# --- electrical stimulation ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan_item", "crosses"),
    [
        (pair("pectoralis-major", "left", "pectoralis-major", "right"), "chest"),
        (pair("biceps-brachii", "left", "biceps-brachii", "right"), "chest"),
        (pair("pectoralis-major", "left", "rhomboids", "left"), "chest"),
        (pair("biceps-brachii", "left", "rectus-femoris", "left"), "chest"),
        (pair("lumbar-multifidus", "left", "lumbar-multifidus", "right"), "spinal-cord"),
        (pair("upper-trapezius", "left", "upper-trapezius", "right"), "spinal-cord"),
        (pair("scalenes", "left", "scalenes", "right"), "front-of-neck"),
        (pair("upper-trapezius", "left", "sternocleidomastoid", "left"), "front-of-neck"),
        (item("sternocleidomastoid", technique=ESTIM), "front-of-neck"),
        (pair("temporalis", "left", "temporalis", "right"), "head"),
    ],
)  # fmt: skip
def test_a_current_path_across_the_chest_neck_spine_or_head_is_contraindicated(plan_item, crosses):
    assessed = one([], plan_item)
    assert assessed.verdict == "contraindicated"
    reason = next(r for r in assessed.reasons if r.code == f"estim-path-{crosses}")
    assert "Cummings 2011" in reason.source


@pytest.mark.parametrize(
    "plan_item",
    [
        pair("pectoralis-major", "left", "pectoralis-major", "left"),
        pair("pectoralis-major", "left", "deltoid", "left"),
        pair("lumbar-multifidus", "left", "gluteus-medius", "left"),
        pair("thoracic-erector-spinae", "left", "lumbar-multifidus", "left"),
        pair("upper-trapezius", "left", "levator-scapulae", "left"),
        pair("gastrocnemius", "left", "soleus", "left"),
        pair("gastrocnemius", "left", "gastrocnemius", "right"),
        pair("external-oblique", "left", "rectus-abdominis", "left"),
        pair("latissimus-dorsi", "left", "quadratus-lumborum", "left"),
        pair("serratus-anterior", "left", "external-oblique", "left"),
    ],
)
def test_its_neighbours_on_one_side_or_away_from_the_trunk_are_not(plan_item):
    assessed = one([], plan_item)
    assert not {c for c in codes(assessed) if c.startswith("estim-path")}, codes(assessed)


def test_a_pair_with_a_side_missing_is_a_caution_saying_what_it_may_cross():
    assessed = one([], pair("pectoralis-major", "left", "pectoralis-major", None))
    reason = next(r for r in assessed.reasons if r.code == "estim-path-side-unknown")
    assert reason.verdict == "caution" and "across the chest" in reason.text
    same = one([], pair("pectoralis-major", "left", "deltoid", None))
    assert "estim-path-side-unknown" in codes(same)
    legs = one([], pair("gastrocnemius", "left", "soleus", None))
    assert not {c for c in codes(legs) if c.startswith("estim-path")}
    unsided = one([], pair("pectoralis-major", None, "pectoralis-major", None))
    assert "estim-path-side-unknown" in codes(unsided) and unsided.verdict == "caution"


def test_stimulation_without_a_recorded_pair_is_a_note_only():
    assessed = one([], item("gastrocnemius", technique=ESTIM))
    assert assessed.verdict == "allowed"
    assert "estim-path-no-lead" in note_codes(assessed)
    assert "estim-path-no-lead" not in note_codes(one([], item("gastrocnemius")))


def test_the_pair_is_shown_in_json():
    result = knowledge.screen([], [pair("deltoid", "left", "biceps-brachii", "left")])
    assert result.as_json()["items"][0]["lead_to"] == {"muscle": "biceps-brachii", "side": "left"}
    assert knowledge.screen([], [item("deltoid")]).as_json()["items"][0]["lead_to"] is None


def test_pregnancy_bars_current_over_the_trunk_at_either_needle_and_cautions_elsewhere():
    pregnant = [{"code": "pregnancy", "trimester": 2}]
    pelvis = one(pregnant, pair("gluteus-medius", "left", "lumbar-multifidus", "left"))
    assert pelvis.verdict == "contraindicated" and "pregnancy-estim-area" in codes(pelvis)
    calf = one(pregnant, pair("gastrocnemius", "left", "soleus", "left"))
    assert calf.verdict == "caution" and "pregnancy-estim" in codes(calf)
    assert one([], pair("gluteus-medius", "left", "lumbar-multifidus", "left")).verdict != (
        "contraindicated"
    )


def test_epilepsy_bars_current_over_the_head_and_neck_and_is_a_high_caution_elsewhere():
    epilepsy = [{"code": "epilepsy"}]
    assert one(epilepsy, item("temporalis", technique=ESTIM)).verdict == "contraindicated"
    limb = one(epilepsy, item("gastrocnemius", technique=ESTIM))
    assert (limb.verdict, limb.level) == ("caution", "high")
    assert one(epilepsy, item("temporalis")).verdict == "caution"


def test_impaired_sensation_bars_current_at_either_needle_and_is_a_caution_for_plain_needling():
    numb = [{"code": "impaired-sensation", "regions": ["foot-plantar-left"]}]
    assert one(numb, item("abductor-hallucis")).verdict == "caution"
    assert one(numb, item("abductor-hallucis", technique=ESTIM)).verdict == "contraindicated"
    lead = one(numb, pair("tibialis-posterior", "left", "abductor-hallucis", "left"))
    assert lead.verdict == "contraindicated"
    assert one(numb, item("abductor-hallucis", "right", ESTIM)).verdict == "allowed"


def test_a_malignancy_bars_needling_there_and_current_at_either_needle():
    tumour = [{"code": "malignancy", "regions": ["thigh-anterior-left"]}]
    assert one(tumour, item("rectus-femoris")).verdict == "contraindicated"
    assert one(tumour, item("gastrocnemius")).verdict == "allowed"
    lead = one(tumour, pair("tibialis-anterior", "left", "rectus-femoris", "left"))
    assert "malignancy-estim" in codes(lead) and lead.verdict == "contraindicated"


def test_implanted_devices_still_bar_all_stimulation_and_plain_needling_over_the_pocket_is_high():
    device = [{"code": "pacemaker", "side": "left"}]
    assert one(device, item("gastrocnemius", technique=ESTIM)).verdict == "contraindicated"
    pocket = one(device, item("pectoralis-major"))
    assert pocket.level == "high" and "pacemaker-area" in codes(pocket)
    assert "pacemaker-area" not in codes(one(device, item("pectoralis-major", "right")))
    assert "pacemaker-area" in codes(
        one([{"code": "pacemaker"}], item("pectoralis-major", "right"))
    )


def test_a_lead_to_is_refused_on_plain_needling_and_must_name_a_muscle():
    with pytest.raises(knowledge.InvalidInput, match="technique dry-needling takes none"):
        knowledge.screen([], [item("deltoid", lead={"muscle": "deltoid", "side": "left"})])
    with pytest.raises(knowledge.UnknownCode, match="unknown muscle: 'wing'"):
        knowledge.screen([], [pair("deltoid", "left", "wing", "left")])
    with pytest.raises(knowledge.InvalidInput, match="lead_to does not take depth"):
        knowledge.screen(
            [], [item("deltoid", technique=ESTIM, lead={"muscle": "deltoid", "depth": 2})]
        )
    with pytest.raises(knowledge.InvalidInput, match="side must be 'left' or 'right'"):
        knowledge.screen([], [pair("deltoid", "left", "deltoid", "up")])


# --- factors added -------------------------------------------------------------------------


def test_fainting_before_is_a_caution_everywhere_asking_for_lying_down():
    result = knowledge.screen([{"code": "fainting-history"}], [item("gastrocnemius")])
    assert result.items[0].verdict == "caution"
    assert "lying down" in result.patient.reasons[0].text
    assert knowledge.screen([], [item("gastrocnemius")]).items[0].verdict == "allowed"


@pytest.mark.parametrize("code", ["psychological", "latex-or-antiseptic-allergy"])
def test_whole_patient_cautions_apply_to_every_item(code):
    result = knowledge.screen([{"code": code}], [item("gastrocnemius"), item("deltoid")])
    assert result.patient.verdict == "caution"
    assert {i.verdict for i in result.items} == {"caution"}


def test_a_breast_implant_is_a_high_caution_on_its_side_of_the_chest_only():
    implant = [{"code": "breast-implant", "side": "right"}]
    assert one(implant, item("pectoralis-major", "right")).level == "high"
    assert "breast-implant-area" not in codes(one(implant, item("pectoralis-major", "left")))
    assert one(implant, item("deltoid", "right")).verdict == "allowed"


def test_a_suspected_clot_stops_needling_and_a_treated_one_bars_its_limb():
    suspected = knowledge.screen(
        [{"code": "dvt", "limb": "leg", "side": "left"}], [item("deltoid"), item("soleus")]
    )
    assert suspected.patient.verdict == "contraindicated"
    assert [i.verdict for i in suspected.items] == ["contraindicated", "contraindicated"]
    treated = knowledge.screen(
        [{"code": "dvt", "limb": "leg", "side": "left", "status": "treated"}],
        [item("deltoid"), item("soleus"), item("soleus", "right")],
    )
    assert [i.verdict for i in treated.items] == ["allowed", "contraindicated", "allowed"]


@pytest.mark.parametrize(
    "muscle", ["first-dorsal-interosseous", "adductor-pollicis", "upper-trapezius"]
)
def test_pregnancy_notes_the_sites_guidelines_list(muscle):
    pregnant = [{"code": "pregnancy", "trimester": 2}]
    assert "pregnancy-site" in codes(one(pregnant, item(muscle)))
    assert "pregnancy-site" not in codes(one(pregnant, item("extensor-digitorum")))
    site = next(r for r in one(pregnant, item(muscle)).reasons if r.code == "pregnancy-site")
    assert "AACP 2012" in site.source


def test_pregnancy_over_the_groin_says_groin():
    assessed = one([{"code": "pregnancy", "trimester": 1}], item("pectineus"))
    area = next(r for r in assessed.reasons if r.code == "pregnancy-area")
    assert "groin" in area.text and area.level == "high"


# --- input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factor", "message", "param"),
    [
        ({"code": "anticoagulant", "inr": 20}, "INR must be a number from 0.5 to 15", "inr"),
        ({"code": "anticoagulant", "inr_target": [3, 2]}, "INR target range must be", "inr_target"),
        ({"code": "anticoagulant", "inr_target": "2-9"}, "INR target range must be", "inr_target"),
        ({"code": "anticoagulant", "drug_class": "tea"}, "drug_class must be one of", "drug_class"),
        ({"code": "bleeding-disorder", "platelets": -1}, "platelet count must be", "platelets"),
        ({"code": "bleeding-disorder", "platelets": 9000}, "platelet count must be", "platelets"),
        ({"code": "bleeding-disorder", "severity": "awful"}, "severity must be one of", "severity"),
        ({"code": "pregnancy", "trimester": 0}, "trimester must be 1, 2 or 3", "trimester"),
        ({"code": "dvt", "limb": "leg", "status": "maybe"}, "status must be one of", "status"),
    ],
)  # fmt: skip
def test_out_of_range_details_are_refused_by_name(factor, message, param):
    with pytest.raises(knowledge.InvalidInput, match=message) as refused:
        knowledge.screen([factor], [])
    assert refused.value.param == param
    assert f"factor {factor['code']}" in str(refused.value)


def test_a_factor_reads_back_as_the_json_it_came_from():
    given = {"code": "anticoagulant", "drug": "warfarin", "drug_class": "vitamin-k-antagonist",
             "inr": 2.4, "inr_target": "2.5-3.5"}  # fmt: skip
    parsed = safety.parse_factor(given)
    assert parsed.as_json() == {**given, "inr_target": [2.5, 3.5]}
    assert safety.parse_factor(parsed.as_json()) == parsed


def test_every_region_of_the_atlas_lies_in_a_body_zone_for_the_current_path():
    zoned = {base for bases in safety._rules().body_zones.values() for base in bases}
    missing = {r.base for r in knowledge.regions()} - zoned
    assert not missing, f"add these regions to body_zones in safety.json: {sorted(missing)}"


def test_every_new_rule_cites_a_declared_source_spelled_out():
    data = json.loads(loader.data_text("safety.json"))
    cited = {key for f in data["factors"] for key in f["sources"]}
    cited |= {key for s in data["structures"] for key in s["sources"]}
    cited |= {key for p in data["current_paths"] for key in p["sources"]}
    for entry in knowledge.muscles():
        for at_risk in entry.structures_at_risk:
            cited |= set(at_risk.sources)
    assert cited <= set(data["sources"])
    for key in cited:
        assert len(data["sources"][key]["citation"]) > 30, key


def test_every_factor_has_a_plain_question_and_only_asks_patients_what_they_know():
    for rule in knowledge.factor_rules():
        assert rule.question.endswith("?") and len(rule.question) < 160, rule.code
        assert "INR target" not in rule.question
    assert knowledge.factor_rule("anticoagulant").patient_params == ["drug", "inr"]
    assert "platelets" not in knowledge.factor_rule("bleeding-disorder").patient_params
