"""Fine-tuning a model from exported training targets.

Losses from the card's heads, sampling, the training loop with held-out
evaluation, and saving a new model version beside the base. Names load on
first use, so ``training.progress`` (the JSON-lines events) imports without torch.
"""

from napari_segreview._util.lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "data": [
            "CaseData", "held_out_default", "load_cases", "plain_card", "split_cases",
            "train_statistics",
        ],
        "evaluate": ["Evaluation", "mean_dice", "metric_channels"],
        "loop": ["DEFAULT_LR", "FitResult", "TrainConfig", "fit", "lr_at"],
        "losses": ["CardLoss", "HeadLoss", "soft_dice"],
        "progress": ["EVENTS", "Reporter", "clean", "event_line", "parse_event"],
        "run": ["WORSE_TOLERANCE", "TrainResult", "compare", "fine_tune", "resolve_card"],
        "sampling": ["Batch", "Sampler", "default_patch"],
        "save": [
            "card_path", "check_output", "file_sha256", "next_version", "save_model",
            "training_json_path",
        ],
        "trainable": ["FROZEN_LAYERS_WARNING", "Trainable", "load_trainable", "set_mode"],
    },
)
