"""Fine-tuning a model from exported training targets.

Losses from the card's heads, sampling, the training loop with held-out
evaluation, and saving a new model version beside the base.
"""
