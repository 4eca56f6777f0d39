#!/usr/bin/env python3
"""Draw needlechart's clickable body chart: needlechart/knowledge/data/atlas.svg.

Run from anywhere: ``python3 scripts/draw_atlas.py``. Standard library only; the output is
the same on every run. Do not edit atlas.svg by hand: change the coordinates here.

How the drawing is built
------------------------
Each view (front, back) is drawn as one half of the figure, the half on the viewer's left,
in "raw" units: x = 0 is the midline (the half has x <= 0), y = 0 is the top of the head,
and the head is 118 units tall (the figure is about 7.5 heads). The other half is the
mirror image.

The half is a planar map made of *curves*: lists of points, some of them named *nodes*,
smoothed into cubic Bezier segments (Catmull-Rom style). A node written ``"^NAME"``, or a
point written ``(x, y, "^")``, is a corner. ``sil`` is the silhouette: from the top of
the head down the outside of the figure, round the hand and the foot, and up the inside
of the leg to the crotch. The other curves are the borders between regions.

A *region* is a cycle of nodes. Between two consecutive nodes it follows the stretch of
the one curve that holds both (``"B@curve"`` names the curve when two do). Neighbouring
regions therefore share exactly the same segments, so they tile the body with no gaps and
no overlaps; ``check_tiling`` proves it (every border segment is used once in each
direction, every silhouette segment once).

In the front view the viewer's left half is the patient's right side; in the back view it
is the patient's left side. ``vertex`` and ``sacral`` straddle the midline: their cycles
use mirrored nodes, written ``"NAME~"``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "needlechart" / "knowledge" / "data"
REGIONS = DATA / "regions.json"
OUT = DATA / "atlas.svg"

WIDTH, HEIGHT = 840, 1000
SCALE = 1.0  # raw units -> SVG units
TOP = 46.0  # SVG y of the top of the head
CENTRE = {"front": 210.0, "back": 630.0}  # SVG x of each figure's midline

STYLE = (
    ".region{fill:#eef2f5;stroke:#6b7a89;stroke-width:1;}"
    ".outline{fill:#dfe5ea;stroke:#4a5866;stroke-width:1.5;}"
    ".caption{font:600 16px system-ui,sans-serif;fill:#33414f;}"
)

# ---------------------------------------------------------------------------------------
# Nodes. N maps a name to its raw (x, y); n() registers a node and returns its name.

N: dict[str, tuple[float, float]] = {}


def n(name: str, x: float, y: float) -> str:
    if name in N and N[name] != (x, y):
        raise ValueError(f"node {name} defined twice")
    N[name] = (x, y)
    return name


def lerp(p, q, t):
    return (p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t)


def r1(p):
    return (round(p[0], 1), round(p[1], 1))


class Frame:
    """A limb's local frame: origin, and a direction `deg` degrees from straight down,
    leaning outwards (towards -x). Local u points laterally (outwards), v down the limb."""

    def __init__(self, origin, deg):
        a = math.radians(deg)
        self.o = origin
        self.d = (-math.sin(a), math.cos(a))  # along the limb
        self.u = (-math.cos(a), -math.sin(a))  # lateral

    def at(self, u, v):
        return r1(
            (
                self.o[0] + v * self.d[0] + u * self.u[0],
                self.o[1] + v * self.d[1] + u * self.u[1],
            )
        )


# ---------------------------------------------------------------------------------------
# Geometry of the half figure (viewer's left half, raw units).
#
# Node names. Midline: T top of the head, MN nose, MM mouth, C chin, SN sternal notch,
# MCH below the chest, MPU pubis, CR crotch; back: MV crown, MOC base of the skull, C7,
# MT1 and MT upper and mid back, ML waist, MS top of the sacrum, CX coccyx. Outline: FT, VX
# on the skull, ET/EBt top and bottom of the ear, J where the jaw meets the neck, NB base
# of the neck, SL and ACR on the shoulder slope (ACR the acromion), DL below the deltoid,
# AX armpit, EL*/EM* outer/inner elbow and WL*/WM* outer/inner wrist (T, M, B: top, middle,
# bottom), TH1/TH2 thumb, SCB, CLB, TLB on the flank, HL1/HL2 hip, GFL/GFI gluteal fold,
# GI groin, KL*/KM* knee (O, I: top), AKL*/AKM* ankle, BT1/BT2 big toe, HSL/HSM heel.

# Midline nodes, front view.
for _name, _y in [
    ("T", 0),
    ("MN", 60),
    ("MM", 92),
    ("C", 119.5),
    ("SN", 157),
    ("MCH", 289),
    ("MPU", 442),
    ("CR", 477),
]:
    n(_name, 0, _y)
# Midline nodes, back view.
for _name, _y in [
    ("MV", 31),
    ("MOC", 103),
    ("C7", 150),
    ("MT1", 181),
    ("MT", 276),
    ("ML", 343),
    ("MS", 388),
    ("CX", 462),
]:
    n(_name, 0, _y)

# Head: the cranium is close to an ellipse; the ear (front view) is a bump on the side.
HEAD_TOP = [
    "T",
    (-20.3, 6.7),
    n("FT", -31, 17.9),
    n("VX", -36.7, 28.9),
    (-39.9, 41.3),
]
n("ET", -40.5, 50)
n("EBt", -37.5, 86)
n("J", -28, 110)
EAR = [(-46, 51.5), (-50.5, 58), (-51.5, 68), (-49, 78), (-42.5, 85.5)]
NECK_SHOULDER = [
    (-28.5, 125),
    n("NB", -30.5, 140),
    n("SL", -41, 151.5),
    (-58, 158),
    (-78, 163),
    n("ACR", -94, 170),
    (-109, 180),
    (-118.5, 199),
]
HEAD_FRONT = [*HEAD_TOP, "^ET", *EAR, "^EBt", (-35.5, 98), "^J"]
HEAD_BACK = HEAD_FRONT  # the ears belong to the back of the head in the back view

# Arm: shoulder centre, elbow, wrist; upper arm 10 degrees out from vertical, forearm 6,
# hand 4.
SHOULDER = (-94.0, 185.0)
UPPER = Frame(SHOULDER, 10)
ELBOW = UPPER.at(0, 169)
FORE = Frame(ELBOW, 6)
WRIST = FORE.at(0, 126)
HAND = Frame(WRIST, 4)


def upper(v_frac, lat):
    return UPPER.at(lat, 169 * v_frac)


def fore(v_frac, lat):
    return FORE.at(lat, 126 * v_frac)


n("DL", *upper(0.26, 25))  # lower edge of the deltoid, outside
n("AX", -82, 232)  # armpit
n("ELT", *upper(0.87, 20))
n("ELM", *upper(1.0, 20.5))
n("ELB", *fore(0.17, 21.5))
n("EMT", *upper(0.87, -19.5))
n("EMM", *upper(1.0, -20))
n("EMB", *fore(0.17, -19.5))
n("WLT", *fore(0.87, 14.5))
n("WMT", *fore(0.87, -13))
n("WLB", *HAND.at(15, 0))
n("WMB", *HAND.at(-13.5, 0))

# Thumb: in the anatomical position (palms forward) it points down and out, away from the
# body. Positions along it are s units from its base, on its outer (+1) or inner (-1) side.
_TB = (12.0, 18.0)  # base of the thumb, hand frame
_TA = math.radians(27)
_TD = (math.sin(_TA), math.cos(_TA))  # along the thumb (u, v)
_TN = (math.cos(_TA), -math.sin(_TA))  # its outer side


def thumb(s, side, w=8):
    u = _TB[0] + s * _TD[0] + side * w * _TN[0]
    v = _TB[1] + s * _TD[1] + side * w * _TN[1]
    return HAND.at(u, v)


n("TH1", *thumb(16, 1))
n("TH2", *HAND.at(19.5, 46))  # the web between thumb and index finger
_TIP = HAND.at(_TB[0] + 55.5 * _TD[0], _TB[1] + 55.5 * _TD[1])

ARM_W = {0.5: (20.5, 22.5), 0.72: (20.5, 22)}  # upper arm half-widths, outside and inside
ARM_OUT = [
    "DL",
    upper(0.5, ARM_W[0.5][0]),
    upper(0.72, ARM_W[0.72][0]),
    "ELT",
    "ELM",
    "ELB",
    fore(0.36, 21),
    fore(0.62, 17.5),
    "WLT",
    "WLB",
    HAND.at(17.2, 7),
    thumb(4, 1),
    "TH1",
    thumb(30, 1),
    thumb(42, 1, 7.2),
    thumb(49, 1, 6.4),
    _TIP,
    thumb(49, -1, 6.4),
    thumb(41, -1, 7.2),
    "^TH2",
    # fingers, held together; the clefts between them are corners
    HAND.at(20, 58),
    HAND.at(19.4, 75),
    HAND.at(17.6, 85),
    HAND.at(14.5, 89.5),
    HAND.at(11.2, 86.5),
    HAND.at(10.4, 78),
    (*HAND.at(9.6, 66), "^"),
    HAND.at(8.8, 78),
    HAND.at(8.6, 88),
    HAND.at(4, 95.5),
    HAND.at(-0.6, 90),
    HAND.at(-1, 80),
    (*HAND.at(-1.4, 66), "^"),
    HAND.at(-1.9, 80),
    HAND.at(-2.2, 88),
    HAND.at(-6.8, 92.5),
    HAND.at(-11.2, 87),
    HAND.at(-11.6, 78),
    (*HAND.at(-12, 65), "^"),
    HAND.at(-12.6, 74),
    HAND.at(-13.2, 80),
    HAND.at(-17, 84),
    HAND.at(-20.8, 79.5),
    HAND.at(-21.8, 66),
    HAND.at(-21.5, 48),
    HAND.at(-19, 24),
    "WMB",
    "WMT",
    fore(0.62, -16),
    fore(0.36, -18.5),
    "EMB",
    "EMM",
    "EMT",
    upper(0.72, -ARM_W[0.72][1]),
    upper(0.5, -ARM_W[0.5][1]),
    upper(0.38, -20.5),
    "^AX",
]

TORSO_LEG_OUT = [
    (-80.5, 258),
    n("SCB", -79, 285),
    n("CLB", -76, 314),
    n("TLB", -73, 340),
    (-72, 362),
    (-73.5, 380),
    n("HL1", -78.5, 398),
    (-83.5, 423),
    (-85.5, 447),
    n("HL2", -85.5, 470),
    n("GFL", -84.5, 494),
    (-80.5, 540),
    (-73, 585),
    n("KLO", -64.5, 612),
    (-61.5, 640),
    n("KLB", -61.5, 668),
    (-64, 698),
    (-63.5, 735),
    (-59, 780),
    n("AKL1", -55, 820),
    (-60, 840),
]
n("AKM1", -18, 820)
LEG_IN = [
    (-14, 840),
    "AKM1",
    (-13, 770),
    (-9, 715),
    n("KMB", -11, 668),
    (-9, 640),
    n("KMI", -11.5, 612),
    (-9.5, 570),
    (-6.5, 530),
    n("GFI", -6, 512),
    n("GI", -4.5, 492),
    "CR",
]


def toes(spec):
    """Rounded toe tips from the outside of the foot inwards: (x0, x1, y of the tip) each,
    with a corner at each cleft."""
    pts = []
    for i, (x0, x1, tip) in enumerate(spec):
        a = (x1 - x0) / 2
        b = 0.8 * a
        if i:
            px0, px1, ptip = spec[i - 1]
            pts.append((x0, round(min(tip, ptip) - 1.1 * min(b, (px1 - px0) * 0.4), 1), "^"))
        for deg in (35, 90, 145):
            t = math.radians(deg)
            pts.append(r1((x0 + a - a * math.cos(t), tip - b + b * math.sin(t))))
    return pts


# Front view foot: the top of the foot, seen from in front, toes in a row at the bottom.
FOOT_FRONT = [
    n("AKL2", -60, 860),
    (-63.5, 872),
    (-66.5, 884),
    *toes([(-68, -61, 894.5), (-61, -54, 898), (-54, -46.5, 901), (-46.5, -38.5, 904)]),
    f"^{n('BT1', -38.5, 900.5)}",
    (-36, 906),
    (-27, 909.5),
    (-18.5, 907.5),
    (-13.5, 899.5),
    n("BT2", -12.5, 889),
    (-13, 873),
    n("AKM2", -14.5, 858),
]
# Back view foot: below the heel, the sole, as if seen from behind and below; big toe on
# the inside.
FOOT_BACK = [
    n("HSL", -57, 860),
    (-54, 874.1),
    (-52.5, 888.2),
    (-54.5, 902.2),
    (-57.5, 913.7),
    *toes([(-58.5, -52, 923), (-52, -45.5, 926.5), (-45.5, -38.5, 929.5), (-38.5, -31, 932)]),
    (-31, 928.2, "^"),
    (-29, 934.4),
    (-22.5, 937.9),
    (-16.5, 934.8),
    (-14, 923.4),
    (-15.5, 909.3),
    (-20, 895.2),
    (-21.5, 883.8),
    (-20.5, 872.3),
    n("HSM", -18.5, 860),
]

SIL_FRONT = [*HEAD_FRONT, *NECK_SHOULDER, *ARM_OUT, *TORSO_LEG_OUT, *FOOT_FRONT, *LEG_IN]
SIL_BACK = [*HEAD_BACK, *NECK_SHOULDER, *ARM_OUT, *TORSO_LEG_OUT, *FOOT_BACK, *LEG_IN]

# Arm strips (front): lateral / anterior / medial, split at these fractions across the arm.
F1, F2 = 0.32, 0.665
n("A1", *r1(lerp(N["DL"], N["AX"], F1)))
n("A2", *r1(lerp(N["DL"], N["AX"], F2)))
n("A1B", *r1(lerp(N["ELT"], N["EMT"], F1)))
n("A2B", *r1(lerp(N["ELT"], N["EMT"], F2)))
n("EMIDT", *r1(lerp(N["ELT"], N["EMT"], 0.5)))
n("EMIDB", *r1(lerp(N["ELB"], N["EMB"], 0.5)))


def arm_split(f):
    return [r1(lerp(upper(t, w[0]), upper(t, -w[1]), f)) for t, w in ARM_W.items()]


# Front view: the curves, then the regions.
FRONT_CURVES = {
    "sil": (SIL_FRONT, "m0 m1"),
    "mid": (["T", "MN", "MM", "C", "SN", "MCH", "MPU", "CR"], ""),
    "foretemple": (["FT", (-23.5, 30), n("EB", -23.5, 40.5)], ""),
    "eye": (
        [
            n("EBM", -6.5, 42),
            (-15, 38.5),
            "EB",
            (-30, 50),
            n("EL", -29, 61),
            (-19, 65.5),
            n("EIM", -7.5, 61),
        ],
        "",
    ),
    "eyemed": (["EBM", (-8, 51.5), "EIM"], ""),
    "nosebot": (["EIM", "MN"], "m1"),
    "templecheek": (["ET", "EL"], ""),
    "earinner": (["ET", n("EJ", -34, 66), "EBt"], ""),  # jaw: TMJ up to EJ
    "cheekjaw": (["EJ", (-27, 81.5), (-14, 91), "MM"], "m1"),
    "jawline": (["J", n("NJ", -14.5, 117.5), "C"], "m1"),
    "necksplit": (["NJ", (-14.5, 138), n("NS", -16, 158)], ""),
    "neckbot": (["NS", "SN"], ""),
    "clavicle": (["NS", (-29, 161.5), n("CL", -42, 163.5)], ""),
    "clsl": (["CL", "SL"], ""),
    "shlatinner": (["ACR", (-100, 198), "A1"], ""),
    "armtop": (["DL", "A1", "A2", "AX"], ""),
    "dp": (["CL", (-66, 194), "A2"], ""),
    "chlatinner": (["AX", (-66, 262), n("CLI", -63, 308)], ""),
    "chlatbot": (["CLI", "CLB"], ""),
    "chestbot": (["MCH", (-30, 294), "CLI"], "m0"),
    "iliac": (["HL1", n("ASIS", -63, 400), (-38, 424), "MPU"], ""),
    "hipinner": (["ASIS", n("GL", -65, 426), (-68, 450), n("HLB", -70.5, 474)], ""),
    "hipbot": (["HLB", "HL2"], ""),
    "crease": (["GL", (-46, 448), n("TM0", -27, 468), "GI"], ""),
    "tmsplit": (["TM0", (-27, 540), n("KTM", -26, 607)], ""),
    "tlsplit": (["HLB", (-63, 540), n("KTL", -46.5, 607)], ""),
    "kneetop": (["KMI", "KTM", "KTL", "KLO"], ""),
    "kneebot": (["KMB", n("KBM", -25, 673), n("KBL", -46, 673), "KLB"], ""),
    "kmsplit": (["KTM", (-25, 640), "KBM"], ""),
    "klsplit": (["KTL", (-46, 640), "KBL"], ""),
    "legsplit": (["KBL", (-48.5, 730), (-46, 780), n("AK1", -43, 820)], ""),
    "ankletop": (["AKL1", "AK1", n("AK2", -29.5, 820), "AKM1"], ""),
    "anklebot": (["AKL2", n("AK3", -44, 862), n("AK4", -29.5, 862), "AKM2"], ""),
    "aksplit1": (["AK1", (-43.5, 841), "AK3"], ""),
    "aksplit2": (["AK2", (-29.5, 841), "AK4"], ""),
    "bigtoe": (["BT1", (-34, 889.5), (-22, 887), "BT2"], ""),
    "armsplit1": (["A1", *arm_split(F1), "A1B"], ""),
    "armsplit2": (["A2", *arm_split(F2), "A2B"], ""),
    "elbowtop": (["ELT", "A1B", "EMIDT", "A2B", "EMT"], ""),
    "elbowbot": (["ELB", "EMIDB", "EMB"], ""),
    "elbowsplit": (["EMIDT", "EMIDB"], ""),
    "wristtop": (["WLT", "WMT"], ""),
    "wristbot": (["WLB", "WMB"], ""),
    "thumbbase": (["TH2", "TH1"], ""),
}

FRONT_REGIONS = {
    "forehead": ["T", "FT", "EB", "EBM", "EIM@eyemed", "MN"],
    "temple": ["FT", "ET", "EL", "EB"],
    "eye": ["EBM", "EB", "EL", "EIM", "EBM@eyemed"],
    "ear": ["ET", "EBt@sil", "EJ"],
    "cheek": ["EL", "ET", "EJ", "MM", "MN", "EIM"],
    "jaw": ["EJ", "EBt", "J", "NJ", "C", "MM"],
    "neck-anterior": ["C", "NJ", "NS", "SN"],
    "neck-lateral": ["NJ", "J", "SL", "CL", "NS"],
    "shoulder-anterior": ["SL", "ACR", "A1", "A2", "CL"],
    "shoulder-lateral": ["ACR", "DL", "A1"],
    "chest": ["SN", "NS", "CL", "A2", "AX@armtop", "CLI", "MCH"],
    "chest-lateral": ["AX", "CLB", "CLI"],
    "abdomen": ["MCH", "CLI", "CLB", "HL1", "ASIS", "MPU"],
    "groin": ["MPU", "ASIS", "GL", "TM0", "GI", "CR"],
    "hip-lateral": ["HL1", "HL2", "HLB", "ASIS"],
    "arm-anterior": ["A1", "A1B", "EMIDT", "A2B", "A2"],
    "arm-lateral": ["DL@sil", "ELT", "A1B", "A1", "DL@armtop"],
    "arm-medial": ["A2", "A2B", "EMT", "AX@sil", "A2"],
    "elbow-lateral": ["ELT", "ELB", "EMIDB", "EMIDT", "A1B"],
    "elbow-medial": ["EMIDT", "EMIDB", "EMB", "EMT", "A2B"],
    "forearm-anterior": ["ELB", "WLT", "WMT@wristtop", "EMB", "EMIDB"],
    "wrist": ["WLT", "WLB", "WMB@wristbot", "WMT", "WLT@wristtop"],
    "hand-palmar": ["WLB", "TH1", "TH2@thumbbase", "WMB@sil", "WLB@wristbot"],
    "thumb": ["TH1", "TH2@sil", "TH1@thumbbase"],
    "thigh-anterior": ["TM0", "GL", "HLB", "KTL", "KTM"],
    "thigh-lateral": ["HLB", "HL2", "KLO", "KTL"],
    "thigh-medial": ["GI", "TM0", "KTM", "KMI"],
    "knee-anterior": ["KTM", "KTL", "KBL", "KBM"],
    "knee-lateral": ["KTL", "KLO@kneetop", "KLB", "KBL"],
    "knee-medial": ["KMI", "KTM", "KBM", "KMB@kneebot", "KMI@sil"],
    "leg-anterior": ["KBM", "KBL", "AK1", "AK2", "AKM1@ankletop", "KMB@sil", "KBM"],
    "leg-lateral": ["KBL", "KLB@kneebot", "AKL1@sil", "AK1"],
    "ankle-lateral": ["AKL1", "AKL2@sil", "AK3", "AK1"],
    "ankle-anterior": ["AK1", "AK3", "AK4", "AK2"],
    "ankle-medial": ["AK2", "AK4", "AKM2@anklebot", "AKM1@sil", "AK2@ankletop"],
    "foot-dorsal": ["AKL2", "BT1@sil", "BT2@bigtoe", "AKM2@sil", "AK4", "AK3", "AKL2"],
    "big-toe": ["BT1", "BT2@sil", "BT1@bigtoe"],
}

BACK_CURVES = {
    "sil": (SIL_BACK, "m0 m1"),
    "mid": (["MV", "MOC", "C7", "MT1", "MT", "ML", "MS"], ""),  # vertex, sacral straddle it
    "cleft": (["CX", "CR"], ""),
    "vertexbot": (["VX", (-18, 30.5), "MV"], "m1"),
    "occbot": (["J", (-14, 104.5), "MOC"], "m1"),
    "neckbase": (["NB", (-14, 147.5), "C7"], "m1"),
    "trapbot": (["ACR", n("SP", -80, 182), (-57, 188), n("ST2", -33, 190), "MT1"], "m1"),
    "postax": (["AX", (-85, 208), "SP"], ""),
    "armtopb": (["DL", "AX"], ""),
    "scapula": (["ST2", (-35, 230), (-37, 268), n("SCI", -44, 283), (-60, 288.5), "SCB"], ""),
    "thortop": (["SCI", "MT"], "m1"),
    "thorbot": (["TLB", (-36, 344), "ML"], "m1"),
    "lbbot": (["HL1", (-48, 396), n("LB1", -20, 388)], ""),
    "sacraltop": (["LB1", "MS"], "m1"),
    "sacralside": (["LB1", (-17, 425), "CX"], ""),
    "gluteal": (["GFL", (-62, 509), (-36, 518), "GFI"], ""),
    "elbowmid": (["ELM", "EMM"], ""),
    "wristbot": (["WLB", "WMB"], ""),
    "kptop": (["KLO", (-37, 616), "KMI"], ""),
    "kpbot": (["KLB", (-36, 673), "KMB"], ""),
    "heeltop": (["AKL1", (-36.5, 824), "AKM1"], ""),
    "heelsole": (["HSL", (-38, 871), "HSM"], ""),
}

BACK_REGIONS = {
    "vertex": ["VX", "T", "VX~", "MV"],
    "occiput": ["VX", "J", "MOC", "MV"],
    "neck-posterior": ["MOC", "J", "NB", "C7"],
    "shoulder-top": ["NB", "ACR", "SP", "ST2", "MT1", "C7"],
    "shoulder-posterior": ["ACR", "DL", "AX@armtopb", "SP"],
    "scapula": ["SP", "AX", "SCB", "SCI", "ST2"],
    "interscapular": ["MT1", "ST2", "SCI", "MT"],
    "thoracic": ["MT", "SCI", "SCB", "TLB", "ML"],
    "low-back": ["ML", "TLB", "HL1", "LB1", "MS"],
    "sacral": ["LB1", "MS", "LB1~", "CX"],
    "buttock": ["HL1", "GFL", "GFI@gluteal", "CR", "CX", "LB1"],
    "arm-posterior": ["DL@sil", "ELM", "EMM@elbowmid", "AX@sil", "DL@armtopb"],
    "forearm-posterior": ["ELM", "WLB", "WMB@wristbot", "EMM@sil", "ELM@elbowmid"],
    "hand-dorsal": ["WLB", "WMB@sil", "WLB@wristbot"],
    "thigh-posterior": ["GFI", "GFL@gluteal", "KLO", "KMI@kptop", "GFI@sil"],
    "knee-posterior": ["KLO", "KLB@sil", "KMB@kpbot", "KMI@sil", "KLO@kptop"],
    "calf": ["KLB", "AKL1@sil", "AKM1@heeltop", "KMB@sil", "KLB@kpbot"],
    "heel": ["AKL1", "HSL@sil", "HSM@heelsole", "AKM1@sil", "AKL1@heeltop"],
    "foot-plantar": ["HSL", "HSM@sil", "HSL@heelsole"],
}

# ---------------------------------------------------------------------------------------
# Splines, mirroring and the tiling.


def unit(dx, dy):
    d = math.hypot(dx, dy)
    return (dx / d, dy / d)


def mirror_name(name: str) -> str:
    return name if N[name][0] == 0 else name + "~"


class Curve:
    """Points (some of them named nodes) smoothed into cubic Bezier segments."""

    def __init__(self, name, items, opts, mirrored=False):
        self.name = name
        self.pts, self.names, corners = [], [], set()
        for i, item in enumerate(items):
            if isinstance(item, str):
                corner = item.startswith("^")
                key = item.lstrip("^")
                x, y = N[key]
                if corner:
                    corners.add(i)
                if mirrored:
                    key, x = mirror_name(key), -x
                self.names.append(key)
            else:
                x, y = item[:2]
                if item[2:] == ("^",):
                    corners.add(i)
                if mirrored:
                    x = -x
                self.names.append(None)
            self.pts.append((float(x), float(y)))
        self.index = {k: i for i, k in enumerate(self.names) if k}
        self.segs = self._segments(corners, "m0" in opts, "m1" in opts)

    def _segments(self, corners, m0, m1):
        p, last = self.pts, len(self.pts) - 1

        def direction(i, outgoing):
            if i == 0:
                prev = (-p[1][0], p[1][1]) if m0 else p[0]
                return unit(p[1][0] - prev[0], p[1][1] - prev[1])
            if i == last:
                nxt = (-p[i - 1][0], p[i - 1][1]) if m1 else p[i]
                return unit(nxt[0] - p[i - 1][0], nxt[1] - p[i - 1][1])
            if i in corners:
                a, b = (p[i], p[i + 1]) if outgoing else (p[i - 1], p[i])
                return unit(b[0] - a[0], b[1] - a[1])
            return unit(p[i + 1][0] - p[i - 1][0], p[i + 1][1] - p[i - 1][1])

        segs = []
        for i in range(last):
            a, b = p[i], p[i + 1]
            k = math.hypot(b[0] - a[0], b[1] - a[1]) / 3
            d0, d1 = direction(i, True), direction(i + 1, False)
            c1 = (a[0] + d0[0] * k, a[1] + d0[1] * k)
            c2 = (b[0] - d1[0] * k, b[1] - d1[1] * k)
            segs.append((a, c1, c2, b))
        return segs


def build_curves(spec):
    curves = {}
    for name, (items, opts) in spec.items():
        curves[name] = Curve(name, items, opts)
        on_midline = all(isinstance(i, str) and N[i.lstrip("^")][0] == 0 for i in items)
        if not on_midline:
            curves[name + "~"] = Curve(name + "~", items, opts, mirrored=True)
    return curves


def resolve(curves, a, b_item):
    """The segments from node a to node b (b_item may be "B@curve")."""
    b, _, hint = b_item.partition("@")
    if hint:
        if hint not in curves and hint.endswith("~"):
            hint = hint[:-1]  # a midline curve is its own mirror image
        found = [curves[hint]]
    else:
        found = [c for c in curves.values() if a in c.index and b in c.index]
        if len(found) > 1:
            raise ValueError(f"{a}->{b} is on {[c.name for c in found]}: add @curve")
    if not found or a not in found[0].index or b not in found[0].index:
        raise ValueError(f"no curve joins {a} and {b}")
    c = found[0]
    i, j = c.index[a], c.index[b]
    if i < j:
        return [(c.name, k, +1, c.segs[k]) for k in range(i, j)]
    return [(c.name, k, -1, tuple(reversed(c.segs[k]))) for k in range(i - 1, j - 1, -1)]


def face_segments(curves, cycle):
    nodes = [item.partition("@")[0] for item in cycle]
    items = list(cycle)
    if nodes[-1] != nodes[0]:
        items.append(nodes[0])
        nodes.append(nodes[0])
    out = []
    for k in range(len(items) - 1):
        out += resolve(curves, nodes[k], items[k + 1])
    return out


def mirror_cycle(cycle):
    out = []
    for item in cycle:
        node, _, hint = item.partition("@")
        node = node[:-1] if node.endswith("~") else mirror_name(node)
        out.append(node + ("@" + hint + "~" if hint else ""))
    return out


def signed_area(segs):
    pts = []
    for _, _, _, (a, c1, c2, b) in segs:
        for t in (0, 0.25, 0.5, 0.75):
            s = 1 - t
            pts.append(
                (
                    s**3 * a[0] + 3 * s * s * t * c1[0] + 3 * s * t * t * c2[0] + t**3 * b[0],
                    s**3 * a[1] + 3 * s * s * t * c1[1] + 3 * s * t * t * c2[1] + t**3 * b[1],
                )
            )
    return sum(pts[i][0] * pts[i - 1][1] - pts[i - 1][0] * pts[i][1] for i in range(len(pts)))


def check_tiling(view, curves, faces):
    """Every silhouette segment bounds exactly one region; every other segment bounds two,
    traversed in opposite directions once the regions are oriented alike."""
    used: dict[tuple[str, int], list[int]] = {}
    for segs in faces.values():
        sign = 1 if signed_area(segs) > 0 else -1
        for cname, k, direction, _ in segs:
            used.setdefault((cname, k), []).append(direction * sign)
    outer = used.get(("sil", 0), [0])[0]  # the way round the outline goes
    for c in curves.values():
        for k in range(len(c.segs)):
            got = sorted(used.pop((c.name, k), []))
            want = {"sil": [outer], "sil~": [-outer]}.get(c.name, [-1, 1])
            if got != want:
                raise AssertionError(f"{view}: segment {k} of {c.name} used {got}, not {want}")
    assert not used, used


# ---------------------------------------------------------------------------------------
# SVG output.


def fmt(v):
    s = f"{round(v, 1) + 0.0:.1f}"
    return s[:-2] if s.endswith(".0") else s


def to_svg(view, p):
    return (CENTRE[view] + p[0] * SCALE, TOP + p[1] * SCALE)


def path_d(view, segs):
    pt = lambda q: ",".join(fmt(v) for v in to_svg(view, q))  # noqa: E731
    out = [f"M{pt(segs[0][3][0])}"]
    for *_, (a, c1, c2, b) in segs:
        ax, ay = to_svg(view, a)
        bx, by = to_svg(view, b)
        straight = all(
            abs((bx - ax) * (qy - ay) - (by - ay) * (qx - ax)) < 0.05 * math.hypot(bx - ax, by - ay)
            for qx, qy in (to_svg(view, c1), to_svg(view, c2))
        )
        out.append(f"L{pt(b)}" if straight else f"C{pt(c1)} {pt(c2)} {pt(b)}")
    return "".join(out) + "Z"


def esc(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def draw_view(view, curve_spec, region_spec, regions):
    curves = build_curves(curve_spec)
    half, other = ("right", "left") if view == "front" else ("left", "right")
    faces, titles = {}, {}
    for r in regions:
        if r["view"] != view:
            continue
        cycle = region_spec[r["base"]]
        if r["sided"]:
            for side, cyc in ((half, cycle), (other, mirror_cycle(cycle))):
                rid = f"{r['base']}-{side}"
                faces[rid] = face_segments(curves, cyc)
                titles[rid] = f"{r['label']} ({side})"
        else:
            faces[r["base"]] = face_segments(curves, cycle)
            titles[r["base"]] = r["label"]
    missing = set(region_spec) - {r["base"] for r in regions if r["view"] == view}
    assert not missing, f"regions drawn but not in regions.json: {missing}"
    check_tiling(view, curves, faces)

    outline = curves["sil"].segs + [tuple(reversed(s)) for s in reversed(curves["sil~"].segs)]
    outline = [(None, 0, 0, s) for s in outline]
    cx = CENTRE[view]
    caption = "Front" if view == "front" else "Back"
    viewer_left, viewer_right = ("R", "L") if view == "front" else ("L", "R")
    lines = [
        f'<g id="view-{view}" class="view">',
        f'<text class="caption" aria-hidden="true" x="{fmt(cx)}" y="28" '
        f'text-anchor="middle">{caption}</text>',
        f'<text class="caption" aria-hidden="true" x="{fmt(cx - 112)}" y="{fmt(TOP + 78)}" '
        f'text-anchor="middle">{viewer_left}</text>',
        f'<text class="caption" aria-hidden="true" x="{fmt(cx + 112)}" y="{fmt(TOP + 78)}" '
        f'text-anchor="middle">{viewer_right}</text>',
        f'<path class="outline" aria-hidden="true" d="{path_d(view, outline)}"/>',
    ]
    for rid, segs in faces.items():
        lines.append(
            f'<path id="{rid}" class="region" d="{path_d(view, segs)}">'
            f"<title>{esc(titles[rid])}</title></path>"
        )
    lines.append("</g>")
    return lines


def main():
    regions = json.loads(REGIONS.read_text(encoding="utf-8"))["regions"]
    lines = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        'role="img" aria-labelledby="atlas-title">',
        "<!-- Generated by scripts/draw_atlas.py from needlechart's own coordinates; "
        "do not edit by hand. -->",
        '<title id="atlas-title">Body chart, front and back</title>',
        f"<style>{STYLE}</style>",
        *draw_view("front", FRONT_CURVES, FRONT_REGIONS, regions),
        *draw_view("back", BACK_CURVES, BACK_REGIONS, regions),
        "</svg>",
    ]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
