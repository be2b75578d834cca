"""Class statistics over a set of training targets, and the loss weights they suggest.

* **Sigmoid** channels (``BCEWithLogitsLoss``): positives, negatives and
  ``pos_weight = negatives / positives`` per channel. ``pos_weight`` multiplies
  the loss of the *positive* term, so a rare channel (few ones) gets a large
  weight. Weighting by the number of ones instead (as the last post of the
  second reference thread proposes) gives the frequent channel (the whole
  bone) the largest weight and makes the imbalance worse: it is backwards.
* **Softmax** heads (``CrossEntropyLoss``): voxel count and frequency of each
  class (voxels marked 255 left out), and class weights: inverse frequency
  normalised so that a balanced set gets all ones (``N / (K * n_c)``), or
  median-frequency balancing (``median(f) / f_c``, Eigen and Fergus). Absent
  classes get weight 0 and are listed in ``absent``.

Counts are taken per case (:func:`count_target`, stored in each case's
manifest) and summed over the whole export (:func:`statistics_from_counts`).
Counting works in blocks of 2**18 voxels: no volume-sized int64 temporary
(``np.bincount`` on a whole uint8 volume would make one).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from napari_segreview._util.arrays import blocks
from napari_segreview.errors import FormatError
from napari_segreview.labels.formats import IGNORE
from napari_segreview.targets.choices import WEIGHT_METHODS

__all__ = ["WEIGHT_METHODS", "class_statistics", "count_target", "statistics_from_counts",
           "summary_lines"]

_VERSION = 1

POS_WEIGHT_NOTE = (
    "pos_weight = negatives / positives per channel: BCEWithLogitsLoss multiplies the loss of "
    "the positive (target 1) voxels by it, so rare channels are weighted up. Weighting by the "
    "number of ones instead would weight the frequent channels up: that is backwards. Use "
    "torch.tensor(pos_weight).view(-1, 1, 1) for (N, C, H, W) outputs "
    "(view(-1, 1, 1, 1) for (N, C, D, H, W))."
)
WEIGHT_NOTE = (
    "CrossEntropyLoss(weight=torch.tensor(weight), ignore_index=255). weight is {method}; "
    "voxels marked 255 (ignore) are not counted; absent classes get weight 0."
)


def count_target(target: Any) -> dict[str, Any]:
    """Voxel counts of one target (a :class:`~napari_segreview.targets.build.Target`).

    Returns
    -------
    dict
        Sigmoid: ``{"kind", "channels", "positives": [..], "voxels": N}``;
        softmax: ``{"kind", "channels", "counts": [..], "ignored": n}``.

    Examples
    --------
    >>> from napari_segreview.targets.build import Target
    >>> count_target(Target("parts", "softmax", ("bg", "a"), np.array([0, 1, 1, 255], np.uint8)))
    {'kind': 'softmax', 'channels': ['bg', 'a'], 'counts': [1, 2], 'ignored': 1}
    """
    data = np.asarray(target.data)
    channels = list(target.channels)
    if target.kind == "sigmoid":
        flat = np.ascontiguousarray(data).reshape(data.shape[0], -1)
        pos = [sum(int(np.count_nonzero(flat[c, s])) for s in blocks(flat.shape[1]))
               for c in range(flat.shape[0])]
        return {"kind": "sigmoid", "channels": channels, "positives": pos,
                "voxels": int(flat.shape[1])}
    flat = np.ascontiguousarray(data).reshape(-1)
    k = len(channels)
    counts = np.zeros(k, np.int64)
    for s in blocks(flat.size):  # one block at a time: bincount's int64 copy stays small
        b = np.bincount(flat[s])
        if b.size > counts.size:
            counts = np.pad(counts, (0, b.size - counts.size))
        counts[:b.size] += b
    ignored = 0
    stray = counts[k:].copy()
    if IGNORE >= k and counts.size > IGNORE:
        ignored = int(counts[IGNORE])
        stray[IGNORE - k] = 0
    if stray.any():
        raise FormatError(f"the target of head {target.head!r} holds label values beyond its "
                          f"{k} classes (such as {k + int(np.flatnonzero(stray)[0])}); "
                          "relabel them or mark them 255.")
    return {"kind": "softmax", "channels": channels, "counts": counts[:k].tolist(),
            "ignored": ignored}


def _ce_weights(counts: np.ndarray, method: str) -> list[float]:
    total = counts.sum()
    present = counts > 0
    w = np.zeros(counts.size, np.float64)
    if not present.any():
        return w.tolist()
    freq = counts / total
    if method == "inverse_frequency":
        w[present] = total / (present.sum() * counts[present])
    else:
        w[present] = np.median(freq[present]) / freq[present]
    return [float(x) for x in w]


def statistics_from_counts(per_case: Iterable[Mapping[str, Mapping[str, Any]]], *,
                           method: str = "inverse_frequency") -> dict[str, Any]:
    """Sum per-case counts (``{head: count_target(...)}``) into the export's statistics.

    Parameters
    ----------
    per_case : iterable of mappings head -> counts
        One mapping per case, as :func:`count_target` returns per head.
    method : {"inverse_frequency", "median_frequency"}
        Which CrossEntropyLoss weights go under ``"weight"`` (both are given).

    Returns
    -------
    dict
        JSON-ready: ``{"cases": n, "heads": {head: {...}}}``; every list is
        ready for ``torch.tensor(...)``.

    Examples
    --------
    >>> a = {"whole": {"kind": "sigmoid", "channels": ["whole"], "positives": [1], "voxels": 4}}
    >>> b = {"whole": {"kind": "sigmoid", "channels": ["whole"], "positives": [1], "voxels": 6}}
    >>> s = statistics_from_counts([a, b])["heads"]["whole"]
    >>> s["positives"], s["negatives"], s["pos_weight"]
    ([2], [8], [4.0])
    """
    if method not in WEIGHT_METHODS:
        raise FormatError(f"the weight method must be one of {', '.join(WEIGHT_METHODS)}, "
                          f"not {method!r}.")
    heads: dict[str, dict[str, Any]] = {}
    n_cases = 0
    for case in per_case:
        n_cases += 1
        for head, c in case.items():
            acc = heads.get(head)
            if acc is None:
                acc = heads[head] = {"kind": c["kind"], "channels": list(c["channels"])}
                if c["kind"] == "sigmoid":
                    acc.update(positives=[0] * len(c["channels"]), voxels=0)
                else:
                    acc.update(counts=[0] * len(c["channels"]), ignored=0)
            if acc["kind"] != c["kind"] or acc["channels"] != list(c["channels"]):
                raise FormatError(f"head {head!r} has different channels in different cases "
                                  f"({acc['channels']} and {list(c['channels'])}); export "
                                  "them to separate folders.")
            if c["kind"] == "sigmoid":
                acc["positives"] = [a + int(b) for a, b in zip(acc["positives"], c["positives"],
                                                               strict=True)]
                acc["voxels"] += int(c["voxels"])
            else:
                acc["counts"] = [a + int(b) for a, b in zip(acc["counts"], c["counts"],
                                                            strict=True)]
                acc["ignored"] += int(c.get("ignored", 0))
    out: dict[str, Any] = {"version": _VERSION, "cases": n_cases, "heads": {}}
    for head, acc in heads.items():
        out["heads"][head] = _finish(acc, method)
    return out


def _finish(acc: dict[str, Any], method: str) -> dict[str, Any]:
    if acc["kind"] == "sigmoid":
        pos = acc["positives"]
        neg = [acc["voxels"] - p for p in pos]
        pw = [float(n) / p if p else None for p, n in zip(pos, neg, strict=True)]
        empty = [ch for ch, p in zip(acc["channels"], pos, strict=True) if not p]
        res = {"kind": "sigmoid", "loss": "BCEWithLogitsLoss", "channels": acc["channels"],
               "voxels": acc["voxels"], "positives": pos, "negatives": neg,
               "pos_weight": [1.0 if w is None else w for w in pw], "note": POS_WEIGHT_NOTE}
        if empty:
            res["empty"] = empty
            res["note"] += (f" {', '.join(empty)} had no positive voxel: pos_weight 1.0 is a "
                            "placeholder; add cases that contain them.")
        return res
    counts = np.asarray(acc["counts"], np.int64)
    total = int(counts.sum())
    freq = [float(c) / total if total else 0.0 for c in counts]
    inv, med = _ce_weights(counts, "inverse_frequency"), _ce_weights(counts, "median_frequency")
    res = {"kind": "softmax", "loss": "CrossEntropyLoss", "classes": acc["channels"],
           "counts": counts.tolist(), "ignored": acc["ignored"], "frequency": freq,
           "weight": inv if method == "inverse_frequency" else med, "weight_method": method,
           "weight_inverse_frequency": inv, "weight_median_frequency": med,
           "ignore_index": IGNORE,
           "note": WEIGHT_NOTE.format(method=method.replace("_", " "))}
    absent = [ch for ch, c in zip(acc["channels"], counts, strict=True) if not c]
    if absent:
        res["absent"] = absent
    return res


def class_statistics(targets_per_case: Iterable[Iterable[Any]], *,
                     method: str = "inverse_frequency") -> dict[str, Any]:
    """Statistics over cases, each given as its list of targets.

    Examples
    --------
    >>> from napari_segreview.targets.build import Target
    >>> t = Target("parts", "softmax", ("bg", "a", "b"), np.array([0, 0, 0, 1, 1, 2], np.uint8))
    >>> s = class_statistics([[t]])["heads"]["parts"]
    >>> s["counts"], [round(w, 3) for w in s["weight"]]
    ([3, 2, 1], [0.667, 1.0, 2.0])
    """
    return statistics_from_counts(
        ({t.head: count_target(t) for t in case} for case in targets_per_case), method=method)


def summary_lines(stats: Mapping[str, Any]) -> list[str]:
    """Short human-readable lines (for the widget's preview and the CLI).

    Examples
    --------
    >>> a = {"fg": {"kind": "sigmoid", "channels": ["fg"], "positives": [1], "voxels": 5}}
    >>> summary_lines(statistics_from_counts([a]))
    ['fg (sigmoid, 1 case(s)): fg 1 of 5 voxels (20.0%), pos_weight 4']
    """
    lines = []
    n = stats.get("cases", 0)
    for head, h in stats.get("heads", {}).items():
        if h["kind"] == "sigmoid":
            parts = [f"{ch} {p} of {h['voxels']} voxels ({_pct(p, h['voxels'])}), "
                     f"pos_weight {_num(w)}"
                     for ch, p, w in zip(h["channels"], h["positives"], h["pos_weight"],
                                         strict=True)]
        else:
            parts = [f"{ch} {_pct(c, sum(h['counts']))} weight {_num(w)}"
                     for ch, c, w in zip(h["classes"], h["counts"], h["weight"], strict=True)]
            if h["ignored"]:
                parts.append(f"{h['ignored']} voxels ignored (255)")
        lines.append(f"{head} ({h['kind']}, {n} case(s)): " + "; ".join(parts))
    return lines


def _pct(a: int, b: int) -> str:
    return f"{100.0 * a / b:.1f}%" if b else "0%"


def _num(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    return f"{x:.4g}"
