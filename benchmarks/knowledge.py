"""Time the knowledge engines per call (they back every page, command and API call).

    .venv/bin/python benchmarks/knowledge.py [--repeat 2000]

No Django needed: the engines are plain Python.
"""

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from needlechart import knowledge


def timed(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), max(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    rng = random.Random(1)
    regions = [r.id for r in knowledge.regions()]
    muscles = [m.slug for m in knowledge.muscles()]
    knowledge.rank_muscles(regions[:1])  # load and validate the data once
    factors = [
        {"code": "lymphedema", "limb": "arm", "side": "left"},
        {"code": "anticoagulant", "drug": "apixaban"},
        {"code": "emphysema"},
        {"code": "local-infection", "regions": ["calf-left"]},
    ]
    plan = [{"muscle": m, "side": rng.choice(["left", "right"])} for m in rng.sample(muscles, 8)]
    cases = {
        "rank_muscles, 1 region": lambda: knowledge.rank_muscles(["temple-right"]),
        "rank_muscles, 6 regions": lambda: knowledge.rank_muscles(rng.sample(regions, 6)),
        "screen, 4 factors x 8 items": lambda: knowledge.screen(factors, plan),
        "classify_change NPRS": lambda: knowledge.classify_change("nprs", 7, 4),
        "suggest_cpt, 5 muscles": lambda: knowledge.suggest_cpt(muscles[:5]),
        "condition_search, 3 words": lambda: knowledge.condition_search("right shoulder pain"),
    }
    print(f"{args.repeat} calls each")
    for name, call in cases.items():
        median, worst = timed(call, args.repeat)
        print(f"  {name:<30} median {median * 1e6:8.1f} us   worst {worst * 1e6:8.1f} us")


if __name__ == "__main__":
    main()
