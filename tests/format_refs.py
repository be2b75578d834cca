"""Independent references for the label-format tests: plain loops and comparisons.

Shared by tests/core/test_formats.py and tests/core/test_checks.py; nothing here
calls the code under test.
"""

import numpy as np


def ref_onehot(labels, n):
    return np.stack([labels == c for c in range(n)]).astype(np.uint8)


def ref_first(mask):
    """First True coordinate in C order, as a tuple of python ints."""
    for idx in np.ndindex(mask.shape):
        if mask[idx]:
            return tuple(int(i) for i in idx)
    return None


def ref_paint(mh, order):
    """Per voxel: label = 1 + the last channel of ``order`` that is set, 0 if none."""
    out = np.zeros(mh.shape[1:], dtype=np.int64)
    for idx in np.ndindex(out.shape):
        for c in order:
            if mh[(c, *idx)]:
                out[idx] = c + 1
    return out


def ref_atoms(mh):
    """Atom map and list of channel-index tuples, ordered by (size, indices)."""
    spatial = mh.shape[1:]
    combos = {}
    for idx in np.ndindex(spatial):
        combos[idx] = tuple(c for c in range(mh.shape[0]) if mh[(c, *idx)])
    order = [(), *sorted(set(combos.values()) - {()}, key=lambda t: (len(t), t))]
    number = {t: i for i, t in enumerate(order)}
    atoms = np.zeros(spatial, dtype=np.int64)
    for idx, t in combos.items():
        atoms[idx] = number[t]
    return atoms, order


def random_labels(shape, n_classes, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, size=shape).astype(np.uint8)
    labels[..., 0] = 0  # some background everywhere
    return labels
