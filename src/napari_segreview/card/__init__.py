"""The model card: what each output channel of a model means.

Schema, parsing and finding the card, and the intensity normalisation and CT windows it asks for.

>>> from napari_segreview.card import ModelCard
>>> ModelCard.from_dict({"heads": [{"name": "fg", "kind": "sigmoid",
...                                  "channels": ["fg"]}]}).n_outputs
1
"""

from napari_segreview._util.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "fit": ["fit_input", "guess_rgb"],
        "intensity": ["PERCENTILE_SAMPLE", "normalize"],
        "parts": [
            "HEAD_KINDS", "NORMALIZE_KINDS", "NORM_PARAMS", "HeadSpec", "InputSpec",
            "NormalizeSpec", "parse_head", "parse_input", "parse_normalize",
        ],
        "spec": ["ModelCard", "find_card", "load_card"],
        "windows": ["PRESETS", "limits_to_window", "preset_limits", "window_to_limits"],
    },
)
