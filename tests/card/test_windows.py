import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from napari_segreview.card.windows import (
    PRESETS,
    limits_to_window,
    preset_limits,
    window_to_limits,
)
from napari_segreview.errors import WindowError

# Contrast limits written out by hand from centre -/+ width / 2.
EXPECTED = {
    "soft tissue": (-160.0, 240.0),
    "bone": (-500.0, 1300.0),
    "lung": (-1350.0, 150.0),
    "brain": (0.0, 80.0),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_presets_give_the_textbook_limits(name):
    assert preset_limits(name) == EXPECTED[name]


def test_every_preset_is_tested():
    assert set(PRESETS) == set(EXPECTED)


def test_preset_names_ignore_case_and_spaces():
    assert preset_limits("  Soft Tissue ") == EXPECTED["soft tissue"]


def test_unknown_preset_lists_the_choices():
    with pytest.raises(WindowError, match="choose one of soft tissue, bone, lung, brain"):
        preset_limits("abdomen")


@pytest.mark.parametrize("width", [0, -10])
def test_width_must_be_positive(width):
    with pytest.raises(WindowError, match="width must be above 0"):
        window_to_limits(40, width)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "wide", None])
def test_width_must_be_a_finite_number(bad):
    with pytest.raises(WindowError, match="must be"):
        window_to_limits(40, bad)


finite = st.floats(-5000, 5000, allow_nan=False)


@given(finite, st.floats(0.5, 10000, allow_nan=False))
def test_window_round_trip(center, width):
    lo, hi = window_to_limits(center, width)
    assert lo < hi
    c, w = limits_to_window(lo, hi)
    assert math.isclose(c, center, abs_tol=1e-6)
    assert math.isclose(w, width, rel_tol=1e-9, abs_tol=1e-6)
