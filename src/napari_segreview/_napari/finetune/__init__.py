"""The Fine-tune panel."""
