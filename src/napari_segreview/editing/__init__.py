"""Editing tools for overlapping masks.

Slice interpolation, islands, holes, smoothing, margins, logical operators,
and the masks behind intensity-limited and hierarchy-aware painting. numpy in,
numpy out, spacing in millimetres; nothing here imports torch, Qt or napari.
"""
