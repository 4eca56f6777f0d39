"""Every shipped data file validates, and every cross-reference between them resolves."""

import importlib
import json
import re
import xml.etree.ElementTree as ET

import pytest
from pydantic import ValidationError

from needlechart import knowledge
from needlechart.knowledge import loader, schema

REQUIRED_REGIONS = [
    "forehead",
    "temple",
    "vertex",
    "occiput",
    "eye",
    "ear",
    "jaw",
    "neck-anterior",
    "neck-lateral",
    "neck-posterior",
    "shoulder-top",
    "shoulder-anterior",
    "shoulder-lateral",
    "shoulder-posterior",
    "chest",
    "scapula",
    "interscapular",
    "thoracic",
    "low-back",
    "sacral",
    "abdomen",
    "groin",
    "arm-anterior",
    "arm-posterior",
    "arm-lateral",
    "arm-medial",
    "elbow-lateral",
    "elbow-medial",
    "forearm-anterior",
    "forearm-posterior",
    "wrist",
    "hand-dorsal",
    "hand-palmar",
    "thumb",
    "buttock",
    "hip-lateral",
    "thigh-anterior",
    "thigh-lateral",
    "thigh-posterior",
    "thigh-medial",
    "knee-anterior",
    "knee-medial",
    "knee-lateral",
    "knee-posterior",
    "leg-anterior",
    "leg-lateral",
    "calf",
    "ankle-anterior",
    "ankle-lateral",
    "ankle-medial",
    "heel",
    "foot-dorsal",
    "foot-plantar",
    "big-toe",
]
MIDLINE = {"vertex", "sacral"}
REQUIRED_MUSCLES = [
    "upper-trapezius",
    "middle-trapezius",
    "lower-trapezius",
    "levator-scapulae",
    "sternocleidomastoid",
    "scalenes",
    "splenius-capitis",
    "splenius-cervicis",
    "suboccipitals",
    "semispinalis-capitis",
    "masseter",
    "temporalis",
    "supraspinatus",
    "infraspinatus",
    "teres-minor",
    "teres-major",
    "subscapularis",
    "deltoid",
    "pectoralis-major",
    "pectoralis-minor",
    "latissimus-dorsi",
    "rhomboids",
    "serratus-anterior",
    "serratus-posterior-superior",
    "biceps-brachii",
    "triceps-brachii",
    "brachialis",
    "brachioradialis",
    "supinator",
    "pronator-teres",
    "extensor-carpi-radialis-longus",
    "extensor-carpi-radialis-brevis",
    "extensor-digitorum",
    "flexor-carpi-radialis",
    "first-dorsal-interosseous",
    "thoracic-erector-spinae",
    "lumbar-multifidus",
    "iliocostalis-lumborum",
    "quadratus-lumborum",
    "rectus-abdominis",
    "iliopsoas",
    "gluteus-maximus",
    "gluteus-medius",
    "gluteus-minimus",
    "piriformis",
    "tensor-fasciae-latae",
    "adductor-longus",
    "adductor-magnus",
    "biceps-femoris",
    "semitendinosus",
    "rectus-femoris",
    "vastus-lateralis",
    "vastus-medialis",
    "gastrocnemius",
    "soleus",
    "tibialis-anterior",
    "tibialis-posterior",
    "fibularis-longus",
    "extensor-digitorum-longus",
    "popliteus",
    "abductor-hallucis",
    "quadratus-plantae",
]
# Clinical reference, section 3: muscles with the lung or pleura beneath them.
OVER_THE_LUNG = [
    "upper-trapezius",
    "middle-trapezius",
    "lower-trapezius",
    "rhomboids",
    "serratus-anterior",
    "serratus-posterior-superior",
    "pectoralis-major",
    "pectoralis-minor",
    "scalenes",
    "thoracic-erector-spinae",
]
FACTORS = [
    "no-consent",
    "unable-to-consent",
    "needle-phobia",
    "medical-emergency",
    "lymphedema",
    "local-infection",
    "systemic-infection",
    "anticoagulant",
    "bleeding-disorder",
    "immunocompromised",
    "diabetes",
    "vascular-disease",
    "pregnancy",
    "epilepsy",
    "metal-allergy",
    "pacemaker",
    "joint-surgery",
    "prior-thoracic-surgery",
    "emphysema",
    "lung-disease",
    "frail",
    "cognitive-impairment",
    "child",
]
SLUG_WITH_SIDE = re.compile(r"^[a-z]+(-[a-z]+)*$")


def test_every_data_file_validates_against_its_schema():
    files = {
        "regions.json": schema.RegionFile,
        "muscles.json": schema.MuscleFile,
        "conditions.json": schema.ConditionFile,
        "body_areas.json": schema.BodyAreaFile,
        "safety.json": schema.SafetyFile,
        "instruments.json": schema.InstrumentFile,
        "adverse_events.json": schema.AdverseEventFile,
        "documents.json": schema.DocumentFile,
    }
    for name, model in files.items():
        assert loader.load(name, model).version


def test_the_atlas_has_every_required_region_on_both_sides_or_the_midline():
    ids = {r.id for r in knowledge.regions()}
    for base in REQUIRED_REGIONS:
        expected = {base} if base in MIDLINE else {f"{base}-left", f"{base}-right"}
        assert expected <= ids, base
    for region in knowledge.regions():
        assert SLUG_WITH_SIDE.match(region.id)
        assert (region.side is None) == (region.id in MIDLINE) or region.side is not None
        if region.side:
            assert region.id.endswith(f"-{region.side}")


def test_the_svg_holds_every_region_id_once_as_a_closed_shape_in_its_view():
    root = ET.fromstring(knowledge.atlas_svg())
    ns = {"svg": "http://www.w3.org/2000/svg"}
    found = {}
    for view in ("front", "back"):
        group = root.find(f".//svg:g[@id='view-{view}']", ns)
        assert group is not None, view
        for path in group.iterfind(".//svg:path[@class='region']", ns):
            assert path.get("id") not in found, path.get("id")
            found[path.get("id")] = view
            assert path.get("d").strip().upper().endswith("Z"), path.get("id")
            assert path.find("svg:title", ns) is not None
    assert found == {r.id: r.view for r in knowledge.regions()}


def test_the_catalogue_covers_the_required_muscles_and_every_body_area():
    slugs = {m.slug for m in knowledge.muscles()}
    assert len(slugs) >= 70
    assert set(REQUIRED_MUSCLES) <= slugs
    areas = {m.area for m in knowledge.muscles()}
    assert areas == {"head-neck", "shoulder-girdle", "arm", "forearm-hand", "trunk", "hip",
                     "thigh", "leg-foot"}  # fmt: skip


def test_every_region_a_muscle_names_exists():
    bases = {r.base for r in knowledge.regions()}
    for m in knowledge.muscles():
        for name in [*m.needling_regions, *m.referral.primary, *m.referral.spillover]:
            assert name in bases, (m.slug, name)


def test_muscles_over_the_lung_carry_the_lung_as_a_structure_at_risk():
    for slug in OVER_THE_LUNG:
        structures = {s.structure for s in knowledge.muscle(slug).structures_at_risk}
        assert "lung-pleura" in structures, slug
    for slug in ("gastrocnemius", "tibialis-anterior", "masseter", "first-dorsal-interosseous"):
        structures = {s.structure for s in knowledge.muscle(slug).structures_at_risk}
        assert "lung-pleura" not in structures, slug


def test_every_fact_cites_a_declared_source_with_a_full_citation():
    data = json.loads(loader.data_text("muscles.json"))
    for entry in data["muscles"]:
        for key in entry["sources"]:
            assert len(data["sources"][key]["citation"]) > 30, key
    for name in ("safety.json", "instruments.json", "adverse_events.json", "conditions.json"):
        data = json.loads(loader.data_text(name))
        text = json.dumps({k: v for k, v in data.items() if k != "sources"})
        for key in re.findall(r'"sources?": (?:\[)?"([a-z0-9-]+)"', text):
            assert key in data["sources"], (name, key)


def test_the_screening_catalogue_has_every_required_factor():
    assert set(FACTORS) <= {f.code for f in knowledge.factor_rules()}
    for rule in knowledge.factor_rules():
        assert rule.question.endswith("?"), rule.code


def test_a_region_in_both_the_main_and_spillover_zone_is_rejected():
    with pytest.raises(ValidationError, match="both primary and spillover"):
        schema.Referral(primary=["temple"], spillover=["temple"])


def test_a_muscle_naming_an_unknown_region_fails_to_load(monkeypatch):
    muscles = importlib.import_module("needlechart.knowledge.muscles")
    bad = json.loads(loader.data_text("muscles.json"))
    bad["muscles"][0]["referral"]["primary"].append("nose")
    monkeypatch.setattr(muscles, "load", lambda *_: schema.MuscleFile.model_validate(bad))
    muscles._file.cache_clear()
    try:
        with pytest.raises(knowledge.KnowledgeDataError, match="unknown region 'nose'"):
            muscles._file()
    finally:
        monkeypatch.undo()
        muscles._file.cache_clear()
