"""Running a model.

Loading it, tiling, deciding heads from logits, the prediction engine
and the demo UNet. The only package (with training) that imports torch.

``predict`` itself is not re-exported here, as it would shadow the module of the same
name: ``from napari_segreview.inference.predict import predict``.
"""

from napari_segreview._util.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "blending": ["MIN_WEIGHT", "Accumulator", "gaussian_weights"],
        "exported": ["input_shape", "program_plan"],
        "heads": [
            "HeadOutput", "activate", "check_outputs", "decide", "head_outputs",
            "probabilities_to_numpy",
        ],
        "models": [
            "FACTORY_OPTION", "find_devices", "load_model", "select_device", "select_output",
            "to_eval",
        ],
        "predict": ["Prediction"],
        "tiling": ["PAD_MODES", "pad_amounts", "pad_to", "tile_grid", "tile_starts"],
        "uncertainty": ["CONFIDENT", "Uncertainty", "UncertaintyAccumulator", "uncertainty_keys"],
        "unet": ["UNet"],
        "words": ["cause_line", "model_failure", "progress_unit"],
    },
)
