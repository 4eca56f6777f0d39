"""The muscles added in the second edition: full data like every other entry, and in use."""

import pytest

from needlechart import knowledge
from needlechart.knowledge.muscles import muscle_json
from needlechart.knowledge.regions import region_bases

NEW = [
    "longissimus-capitis",
    "longus-colli",
    "subclavius",
    "extensor-indicis",
    "abductor-pollicis-longus",
    "extensor-pollicis-brevis",
    "extensor-pollicis-longus",
    "flexor-digitorum-profundus",
    "pronator-quadratus",
    "interossei-hand",
    "thoracic-multifidus",
    "sternalis",
    "internal-oblique",
    "transversus-abdominis",
    "gemelli",
    "quadratus-femoris",
    "plantaris",
    "fibularis-tertius",
    "flexor-hallucis-brevis",
    "interossei-foot",
]
# Patterns described only briefly or by analogy with a neighbour: ranked after the
# well-described ones at an equal fit, and said so.
SPARSE = {
    "longissimus-capitis",
    "longus-colli",
    "abductor-pollicis-longus",
    "extensor-pollicis-brevis",
    "extensor-pollicis-longus",
    "pronator-quadratus",
    "transversus-abdominis",
    "gemelli",
    "quadratus-femoris",
}


@pytest.mark.parametrize("slug", NEW)
def test_each_new_muscle_has_full_data_with_sources(slug):
    entry = knowledge.muscle(slug)
    bases = region_bases()
    assert entry.name and entry.area and entry.sided is True
    assert entry.needling_regions and set(entry.needling_regions) <= bases
    assert entry.referral.primary and set(entry.referral.primary) <= bases
    assert set(entry.referral.spillover) <= bases
    assert entry.referral.well_described is (slug not in SPARSE)
    assert entry.structures_at_risk, "every new muscle names what lies near it"
    for risk in entry.structures_at_risk:
        assert len(risk.detail) >= 60, risk  # what is there and how practitioners avoid it
    # Anatomy and needling technique sources, spelled out with their citations.
    assert {"standring-2020", "dommerholt-2019"} <= set(entry.sources)
    cited = muscle_json(entry)["sources"]
    assert all(source["citation"] for source in cited)
    assert any(source["key"] == "dommerholt-2019" and "Dry Needling" in source["citation"]
               for source in cited)  # fmt: skip


@pytest.mark.parametrize("slug", NEW)
def test_each_new_muscle_is_ranked_for_its_main_zone_and_can_be_screened(slug):
    entry = knowledge.muscle(slug)
    region_id = f"{entry.referral.primary[0]}-left"
    ranked = knowledge.rank_muscles([region_id], top=None)
    found = next(c for c in ranked if c.muscle == slug)
    assert found.why in ("refers", "refers-and-lies") and found.score == 1.0
    result = knowledge.screen([], [{"muscle": slug, "side": "left"}])
    assert result.items[0].verdict in ("allowed", "caution")


def test_the_catalogue_lists_the_muscles_clinicians_look_for():
    slugs = {m.slug for m in knowledge.muscles()}
    assert set(NEW) <= slugs
    assert len(slugs) == len(knowledge.muscles())  # no slug twice


def test_sternalis_warns_of_the_sternal_foramen_with_its_source():
    sternalis = knowledge.muscle("sternalis")
    risks = {r.structure: r.detail for r in sternalis.structures_at_risk}
    assert "sternal foramen" in risks["viscera"] and "4.5%" in risks["viscera"]
    assert {"lung-pleura", "major-vessel"} <= set(risks)
    assert "yekeler-2006" in sternalis.sources
    assert "chest" in sternalis.referral.common_source_for


@pytest.mark.parametrize(
    ("slug", "structures", "word"),
    [
        ("subclavius", {"major-vessel", "nerve", "lung-pleura"}, "subclavian"),
        ("longus-colli", {"major-vessel", "viscera", "nerve"}, "carotid"),
        ("plantaris", {"major-vessel", "nerve"}, "popliteal"),
        ("gemelli", {"nerve"}, "sciatic"),
        ("quadratus-femoris", {"nerve"}, "sciatic"),
        ("thoracic-multifidus", {"lung-pleura", "neuraxis", "non-compressible"}, "pleura"),
        ("subclavius", {"non-compressible"}, "clavicle"),
        ("flexor-digitorum-profundus", {"nerve", "major-vessel"}, "ulnar"),
        ("interossei-foot", {"major-vessel"}, "dorsalis pedis"),
    ],
)  # fmt: skip
def test_new_muscles_name_the_structures_beneath_them(slug, structures, word):
    entry = knowledge.muscle(slug)
    assert structures <= {r.structure for r in entry.structures_at_risk}
    assert word in " ".join(r.detail for r in entry.structures_at_risk)


@pytest.mark.parametrize(
    ("pain", "slug"),
    [
        (["ankle-anterior-right", "ankle-lateral-right"], "fibularis-tertius"),
        (["knee-posterior-left", "calf-left"], "plantaris"),
        (["chest-left"], "sternalis"),
        (["shoulder-anterior-right", "arm-anterior-right"], "subclavius"),
        (["big-toe-left", "foot-plantar-left"], "flexor-hallucis-brevis"),
        (["thumb-right", "wrist-right"], "abductor-pollicis-longus"),
    ],
)  # fmt: skip
def test_new_muscles_come_up_for_their_typical_patterns(pain, slug):
    assert slug in [c.muscle for c in knowledge.rank_muscles(pain, top=5)]


def test_adductor_magnus_does_not_cross_the_knee():
    assert knowledge.muscle("adductor-magnus").joints == ["hip"]
