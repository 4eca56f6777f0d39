import pytest

from needlechart import knowledge


def test_the_published_rates_match_the_papers():
    data = knowledge.published_rates()
    brady, boyce = (
        next(s for s in data.studies if s.key == key) for key in ("brady-2014", "boyce-2020")
    )
    assert (brady.treatments, brady.minor_rate, brady.major_events) == (7629, 0.1918, 0)
    assert brady.by_type["bruising"] == 0.0755 and brady.by_type["bleeding"] == 0.0465
    assert (boyce.treatments, boyce.minor_rate, boyce.major_events) == (20464, 0.367, 20)
    assert round(brady.minor_events / brady.treatments, 4) == brady.minor_rate


@pytest.mark.parametrize(
    ("events", "trials", "low", "high"),
    [(0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (20, 20464, 0.00063, 0.00151)],
)
def test_wilson_intervals_match_known_values(events, trials, low, high):
    lo, hi = knowledge.wilson_interval(events, trials)
    assert lo == pytest.approx(low, abs=5e-5) and hi == pytest.approx(high, abs=5e-5)


def test_minor_is_mild_and_major_is_moderate_or_worse():
    assert knowledge.severity_class("mild") == "minor"
    assert {knowledge.severity_class(s) for s in ("moderate", "severe", "serious")} == {"major"}
    with pytest.raises(ValueError, match="unknown severity"):
        knowledge.severity_class("catastrophic")
