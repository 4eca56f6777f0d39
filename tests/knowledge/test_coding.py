import pytest

from needlechart import knowledge


@pytest.mark.parametrize(
    ("muscles", "code"),
    [
        ([], None),
        (["upper-trapezius"], "20560"),
        (["upper-trapezius", "levator-scapulae"], "20560"),
        (["upper-trapezius", "levator-scapulae", "infraspinatus"], "20561"),
        # The same muscle twice, or on both sides, is still one muscle by default.
        ([("upper-trapezius", "left"), ("upper-trapezius", "right"), "levator-scapulae"], "20560"),
    ],
)
def test_the_cpt_code_follows_the_number_of_distinct_muscles(muscles, code):
    assert knowledge.suggest_cpt(muscles) == code


def test_a_clinic_whose_payer_counts_sides_separately_may_say_so():
    both_sides = [("upper-trapezius", "left"), ("upper-trapezius", "right"), ("deltoid", "left")]
    assert knowledge.suggest_cpt(both_sides, count_sides_separately=True) == "20561"


def test_an_unknown_muscle_is_an_error_naming_it():
    with pytest.raises(knowledge.UnknownCode, match="'trapezoid'"):
        knowledge.suggest_cpt(["trapezoid"])
