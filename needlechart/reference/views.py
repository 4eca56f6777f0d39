"""Clinical reference pages: the body-chart explorer and the muscle catalogue.

They show general knowledge, not patient records, so they are open to every staff role
and write no audit rows.
"""

from collections import defaultdict

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from needlechart import knowledge
from needlechart.accounts import access
from needlechart.knowledge.referral import NOTE
from needlechart.reference.chart import chart, muscle_marks

AREA_LABELS = {
    "head-neck": "Head and neck",
    "shoulder-girdle": "Shoulder girdle",
    "arm": "Upper arm",
    "forearm-hand": "Forearm and hand",
    "trunk": "Trunk",
    "hip": "Hip",
    "thigh": "Thigh",
    "leg-foot": "Leg and foot",
}
STRUCTURE_LABELS = {
    "lung-pleura": "Lung and pleura",
    "major-vessel": "Major blood vessel",
    "nerve": "Nerve",
    "viscera": "Internal organ",
    "joint-capsule": "Joint capsule",
    "neuraxis": "Spinal canal",
    "non-compressible": "Deep site that cannot be compressed",
}


def _selected(request: HttpRequest) -> tuple[list[str], list[str]]:
    """The known region ids asked for, and any unknown ones (shown as an error)."""
    known = {r.id for r in knowledge.regions()}
    asked = request.GET.getlist("region")
    return [r for r in asked if r in known], [r for r in asked if r not in known]


def _ranking(selected: list[str]) -> dict:
    """The ranked muscles and the screen-first warnings, as the page and the endpoint use them."""
    return knowledge.rank_muscles(selected, top=15).as_json()


@access.staff()
def body_chart(request: HttpRequest) -> HttpResponse:
    selected, unknown = _selected(request)
    views = defaultdict(list)
    for region in knowledge.regions():
        views[region.view].append(region)
    ranking = _ranking(selected)
    return render(
        request,
        "reference/body_chart.html",
        {
            "chart": chart(dict.fromkeys(selected, "is-selected"), interactive=True),
            "selected": selected,
            "unknown": unknown,
            "candidates": ranking["candidates"],
            "screen_first": ranking["warnings"],
            "regions_by_view": [("Front", views["front"]), ("Back", views["back"])],
            "note": NOTE,
        },
        status=400 if unknown else 200,
    )


@access.staff()
def referral_json(request: HttpRequest) -> JsonResponse:
    selected, unknown = _selected(request)
    if unknown:
        return JsonResponse({"error": f"unknown region: {unknown[0]}"}, status=400)
    return JsonResponse(_ranking(selected))


@access.staff()
def muscle_list(request: HttpRequest) -> HttpResponse:
    groups = defaultdict(list)
    for entry in knowledge.muscles():
        groups[entry.area].append(entry)
    areas = [
        (AREA_LABELS[area], sorted(groups[area], key=lambda m: m.name)) for area in AREA_LABELS
    ]
    return render(request, "reference/muscle_list.html", {"areas": areas})


@access.staff()
def muscle_detail(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        entry = knowledge.muscle(slug)
    except knowledge.UnknownCode:
        raise Http404 from None
    side = request.GET.get("side") if request.GET.get("side") in ("left", "right") else "right"

    def labels(bases: list[str]) -> list[str]:
        return [knowledge.region(knowledge.region_ids_for(b, side)[0]).label for b in bases]

    return render(
        request,
        "reference/muscle_detail.html",
        {
            "muscle": entry,
            "area": AREA_LABELS[entry.area],
            "side": side,
            "chart": chart(muscle_marks(slug, side)),
            "local": labels(entry.needling_regions),
            "primary": labels(entry.referral.primary),
            "spillover": labels(entry.referral.spillover),
            "common": labels(entry.referral.common_source_for),
            "risks": [(STRUCTURE_LABELS[s.structure], s.detail) for s in entry.structures_at_risk],
            "sources": knowledge.muscle_json(entry)["sources"],
            "note": NOTE,
        },
    )
