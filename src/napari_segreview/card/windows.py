"""CT display windows: a window (centre, width in HU) as contrast limits, and back.

A CT window maps the Hounsfield units ``[centre - width/2, centre + width/2]``
to the grey ramp; everything below is black, everything above white. In
napari this is exactly an image layer's contrast limits. Windows are for
*display only*: what a model sees is set by its card's ``input.normalize``,
never by the window a user looks through.

Examples
--------
>>> preset_limits("bone")
(-500.0, 1300.0)
>>> window_to_limits(40, 400)
(-160.0, 240.0)
>>> limits_to_window(-160, 240)
(40.0, 400.0)
"""

from __future__ import annotations

import math

from napari_segreview.errors import WindowError

__all__ = ["PRESETS", "WindowError", "limits_to_window", "preset_limits", "window_to_limits"]

#: Common CT windows, name -> (centre, width) in HU.
PRESETS: dict[str, tuple[float, float]] = {
    "soft tissue": (40.0, 400.0),
    "bone": (400.0, 1800.0),
    "lung": (-600.0, 1500.0),
    "brain": (40.0, 80.0),
}


def window_to_limits(center: float, width: float) -> tuple[float, float]:
    """Contrast limits ``(low, high)`` in HU for a window of ``width`` around ``center``.

    Parameters
    ----------
    center, width : float
        Window centre (level) and width in HU; ``width`` must be positive.

    Raises
    ------
    WindowError
        When a value is not a finite number or the width is not positive.

    Examples
    --------
    >>> window_to_limits(-600, 1500)
    (-1350.0, 150.0)
    >>> window_to_limits(40, 0)
    Traceback (most recent call last):
    ...
    napari_segreview.errors.WindowError: the window width must be above 0 HU, not 0.0: \
enter a width such as 400 (soft tissue) or 1800 (bone).
    """
    try:
        c, w = float(center), float(width)
    except (TypeError, ValueError) as exc:
        raise WindowError(
            f"the window centre and width must be numbers in HU, not {center!r} and {width!r}."
        ) from exc
    if not (math.isfinite(c) and math.isfinite(w)):
        raise WindowError(
            f"the window centre and width must be finite numbers in HU, not {c} and {w}."
        )
    if w <= 0:
        raise WindowError(
            f"the window width must be above 0 HU, not {w}: enter a width such as 400 "
            "(soft tissue) or 1800 (bone)."
        )
    return (c - w / 2, c + w / 2)


def limits_to_window(low: float, high: float) -> tuple[float, float]:
    """The window ``(centre, width)`` that shows contrast limits ``(low, high)``.

    Examples
    --------
    >>> limits_to_window(-500, 1300)
    (400.0, 1800.0)
    """
    lo, hi = float(low), float(high)
    return ((lo + hi) / 2, hi - lo)


def preset_limits(name: str) -> tuple[float, float]:
    """Contrast limits of a named preset (one of :data:`PRESETS`, any case).

    Raises
    ------
    WindowError
        For a name that is not a preset (the message lists the presets).

    Examples
    --------
    >>> preset_limits("Lung")
    (-1350.0, 150.0)
    >>> preset_limits("liver")
    Traceback (most recent call last):
    ...
    napari_segreview.errors.WindowError: there is no CT window preset 'liver': \
choose one of soft tissue, bone, lung, brain, or enter a centre and width.
    """
    key = str(name).strip().lower()
    if key not in PRESETS:
        raise WindowError(
            f"there is no CT window preset {name!r}: choose one of {', '.join(PRESETS)}, "
            "or enter a centre and width."
        )
    return window_to_limits(*PRESETS[key])
