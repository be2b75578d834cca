"""Private plumbing for every package.

Array helpers, blockwise iteration, atomic files and staged folders, lazy namespaces.
numpy only; nothing here imports torch, Qt or napari.

Import its modules directly (``from napari_segreview._util.files import atomic_write``).
"""
