"""Array plumbing shared by the core: torch/numpy round trips and blockwise loops.

Nothing here imports torch: a tensor is recognised through ``sys.modules``, so
code that never touches torch never pays for importing it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from napari_segreview.errors import FormatError

#: Voxels processed per block: small enough that per-block temporaries stay in
#: the CPU cache, large enough that the Python loop overhead is negligible.
BLOCK = 1 << 18


def is_tensor(x: Any) -> bool:
    """Return True when ``x`` is a torch tensor (without importing torch).

    >>> is_tensor([1, 2])
    False
    """
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def as_numpy(x: Any) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    """Return ``x`` as a numpy array and a function that converts results back.

    numpy arrays (and lists) come back as numpy arrays; a torch tensor comes
    back as a tensor on the tensor's device.

    >>> arr, back = as_numpy([[1, 2]])
    >>> arr.shape, type(back(arr)).__name__
    ((1, 2), 'ndarray')
    """
    if is_tensor(x):
        torch = sys.modules["torch"]  # loaded by whoever made the tensor; never imported here
        device = x.device
        arr = x.detach().to("cpu").numpy()

        def back(result: np.ndarray) -> Any:
            return torch.from_numpy(np.ascontiguousarray(result)).to(device)

        return arr, back
    return np.asarray(x), lambda result: result


def label_dtype(max_value: int) -> np.dtype:
    """Smallest unsigned integer dtype that holds ``max_value``.

    >>> label_dtype(255), label_dtype(256)
    (dtype('uint8'), dtype('uint16'))
    """
    for dt in (np.uint8, np.uint16, np.uint32):
        if max_value <= np.iinfo(dt).max:
            return np.dtype(dt)
    return np.dtype(np.uint64)


def blocks(n: int, block: int = BLOCK) -> Iterator[slice]:
    """Yield slices that cover ``range(n)`` in blocks of at most ``block``.

    >>> [(s.start, s.stop) for s in blocks(5, 2)]
    [(0, 2), (2, 4), (4, 5)]
    """
    for start in range(0, n, block):
        yield slice(start, min(start + block, n))


def as_mask_u8(block: np.ndarray) -> np.ndarray:
    """View a bool or uint8 block as uint8 (no copy); cast other dtypes."""
    if block.dtype == np.bool_ or block.dtype == np.int8:
        return block.view(np.uint8)
    if block.dtype == np.uint8:
        return block
    return block.astype(np.uint8)


def channel_count(flat: np.ndarray, s: slice) -> np.ndarray:
    """How many channels are non-zero at each voxel of block ``s`` of a ``(C, N)`` stack.

    >>> channel_count(np.array([[1, 0, 2], [1, 0, 0]]), slice(0, 3)).tolist()
    [2, 0, 1]
    """
    cnt = np.zeros(s.stop - s.start, np.uint16)
    for c in range(flat.shape[0]):
        np.add(cnt, flat[c, s] != 0, out=cnt, casting="unsafe")
    return cnt


def unravel(flat_index: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Coordinate of a flat (C-order) index, as plain ints.

    >>> unravel(5, (2, 3))
    (1, 2)
    """
    return tuple(int(i) for i in np.unravel_index(int(flat_index), shape))


def flat_channels(stack: np.ndarray) -> np.ndarray:
    """A ``(C, N)`` C-contiguous view (or copy when needed) of a channel stack."""
    return np.ascontiguousarray(stack).reshape(stack.shape[0], -1)


def require_integer(labels: np.ndarray, what: str = "a label map") -> None:
    """Raise FormatError unless ``labels`` holds integers (or bools)."""
    if labels.dtype == np.bool_ or np.issubdtype(labels.dtype, np.integer):
        return
    hint = (
        " (these look like probabilities or logits: decide them first, by threshold or argmax)"
        if np.issubdtype(labels.dtype, np.floating)
        else ""
    )
    raise FormatError(
        f"{what} must hold integers, but its dtype is {labels.dtype}{hint}; "
        "cast it with .astype(np.uint8) if the values are whole numbers."
    )


def first_line(exc: BaseException, limit: int = 160) -> str:
    r"""The first line of an exception's message, at most ``limit`` characters, for a sentence.

    An exception without a message gives its type's name.

    Examples
    --------
    >>> first_line(RuntimeError("CUDA out of memory.\nTried to allocate 2 GiB"))
    'CUDA out of memory.'
    >>> first_line(RuntimeError())
    'RuntimeError'
    >>> first_line(ValueError("x" * 20), limit=10)
    'xxxxxxx...'
    """
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return clip(text, limit)


def one_line(exc: BaseException, limit: int = 160) -> str:
    r"""An exception's whole message on one line (whitespace collapsed), at most ``limit`` long.

    Examples
    --------
    >>> one_line(OSError("not a TIFF file:\n  bad header"))
    'not a TIFF file: bad header'
    >>> one_line(OSError())
    'OSError'
    """
    text = " ".join(str(exc).split()) or type(exc).__name__
    return clip(text, limit)


def clip(text: str, limit: int = 160) -> str:
    """``text`` cut to at most ``limit`` characters, ending in ``...`` when cut.

    Examples
    --------
    >>> clip("x" * 20, 10), clip("short", 10)
    ('xxxxxxx...', 'short')
    """
    return text if len(text) <= limit else text[:limit - 3] + "..."
