import math

import pytest

from ednas_tf.search.schedules import make_schedule


def test_exponential_is_fbnet():
    schedule = make_schedule("exponential")
    assert schedule(0, 10) == 5.0
    assert schedule(3, 10) == pytest.approx(5.0 * math.exp(-0.045 * 3))


def test_linear_is_gdas():
    schedule = make_schedule("linear")
    assert schedule(0, 5) == 10.0 and schedule(4, 5) == pytest.approx(0.1)
    assert schedule(2, 5) == pytest.approx(5.05)


def test_unknown_schedule():
    with pytest.raises(ValueError):
        make_schedule("cosine")


@pytest.mark.parametrize(
    "kind, kwargs",
    [
        ("exponential", {"initial": 0.0}),
        ("linear", {"initial": -1.0}),
        ("linear", {"final": 0.0}),
        ("linear", {"final": float("nan")}),
    ],
)
def test_a_temperature_must_be_positive(kind, kwargs):
    with pytest.raises(ValueError, match="must be > 0"):
        make_schedule(kind, **kwargs)
