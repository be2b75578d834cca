"""Datasets: many cases, one manifest.

The dataset folder format, the review queue, and pre-annotation of every case
on a Dask cluster. Reaches torch only through inference (in the workers).
"""
