"""napari reader of training-target exports, and writers of Labels layers as targets.

* :func:`get_export_reader`: opens an export folder, a case folder or a case
  manifest (tif/npz exports and nnU-Net datasets written by SegReview), or the
  export's ``segreview-export.json`` (or nnU-Net's ``dataset.json``) for the
  whole export: napari's own reader claims no ``.json``, so File > Open on
  that file needs no reader choice. It
  rebuilds the layers that were exported: the image and, per head, the label
  map layer (softmax) or one binary layer per channel (sigmoid), with the
  names, dtypes, scale and ``segreview`` metadata they had (the ``prediction``
  array and a review session's binding are not exported, and the target
  layers get a run of their own, :func:`export_run_id`, so they never join
  the live run they came from). Anything else gets ``None``, so other
  readers try.
* :func:`write_multihot`: several binary Labels layers -> one multi-hot stack
  file (``.tif``/``.npz``), channel names from the layers.
* :func:`write_label_map`: one Labels layer -> a label-map file with its class
  names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from napari_segreview._napari._colours import label_colormap, mask_colormap
from napari_segreview._napari._layers import channel_name
from napari_segreview._napari._meta import KEY, LIVE_KEYS, json_meta, meta
from napari_segreview._util.markers import EXPORT_MARKER, NNUNET_DATASET
from napari_segreview.errors import FormatError
from napari_segreview.io.arrayfiles import ArrayMeta, write_array
from napari_segreview.labels.checks import check_binary
from napari_segreview.targets.export import ExportedCase, find_export_root, read_export

__all__ = ["NOT_EXPORTED", "case_layer_data", "export_run_id", "get_export_reader",
           "layer_record", "write_label_map", "write_multihot"]

#: Metadata keys an export never carries: a review session's binding of the layer.
NOT_EXPORTED = LIVE_KEYS  # an older export may still carry them: dropped on read-back


def get_export_reader(path: str | list[str]) -> Any:
    """Return a reader for a SegReview export (folder, case folder or manifest), else None.

    Examples
    --------
    >>> get_export_reader("/no/such/export") is None
    True
    """
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    p = Path(path)
    root = find_export_root(p)
    if root is None:
        return None
    is_case = p == root or (p.is_dir() and (p / "manifest.json").is_file()) or (
        p.is_file() and p.suffix == ".json" and p.name != "dataset.json"
        and (p.name == "manifest.json" or p.parent.name == "manifests"))
    if p.is_file() and p.parent == root and p.name in (EXPORT_MARKER, NNUNET_DATASET):
        return _read  # the export's marker (or nnU-Net's dataset.json): the whole export
    return _read if is_case else None


def _read(path: str | list[str]) -> list[tuple]:
    if isinstance(path, (list, tuple)):
        path = path[0]
    root = find_export_root(Path(path))
    if Path(path).name in (EXPORT_MARKER, NNUNET_DATASET) and Path(path).parent == root:
        path = root
    layers: list[tuple] = []
    for case in read_export(path):
        layers.extend(case_layer_data(case, root))
    return layers


def _kwargs(rec: dict[str, Any], fallback_name: str, spacing: Any,
            bind: dict[str, Any] | None = None) -> dict[str, Any]:
    kw: dict[str, Any] = {"name": rec.get("name", fallback_name)}
    scale = rec.get("scale", spacing)
    if scale is not None:
        kw["scale"] = tuple(scale)
    if rec.get("translate") is not None:
        kw["translate"] = tuple(rec["translate"])
    if rec.get("metadata") is not None:
        md = {k: v for k, v in rec["metadata"].items() if k not in NOT_EXPORTED}
        md.update({k: v for k, v in (bind or {}).items() if k in md})   # a run's layers only
        kw["metadata"] = {KEY: md}
    return kw


def export_run_id(folder: Any, case: str) -> str:
    """The ``run`` of the layers read back from one case: ``export:<folder>::<case>``.

    Read-back layers never share the run of the Predict run they were exported
    from, so opening an export beside that run adds a run of its own (Review
    and Predict keep treating the live layers as theirs).

    Examples
    --------
    >>> export_run_id("/data/export", "ct_1")
    'export:/data/export::ct_1'
    """
    return f"export:{folder}::{case}"


def case_layer_data(case: ExportedCase, folder: Any = None) -> list[tuple]:
    """LayerData tuples (napari) for one exported case (see :func:`layer_record`).

    Without layer records (an export from the CLI), the image and one layer
    per softmax head / sigmoid channel are made, named ``<case> <channel>``.
    Target layers of a run (metadata with ``run``, e.g. Predict's decision
    layers) get a run of their own (:func:`export_run_id`, with ``folder`` the
    export folder) and the read-back image's name as ``image``; no layer keeps
    a review-session binding (``session``).
    """
    records = case.manifest.get("layers") or default_records(case)
    targets = {t.head: t for t in case.targets}
    image_rec = next((r for r in records if r.get("role") == "image"), {})
    bind = {"run": export_run_id(folder if folder is not None else "", case.name),
            "image": image_rec.get("name", case.name)}
    out: list[tuple] = []
    for rec in records:
        if rec.get("role") == "image":
            data = case.image
            if case.manifest["image"].get("mode") == "raw" and rec.get("dtype"):
                data = data.astype(np.dtype(rec["dtype"]), copy=False)
            kw = _kwargs(rec, case.name, case.spacing)
            for key in ("contrast_limits", "colormap", "rgb"):
                if rec.get(key) is not None:
                    kw[key] = rec[key]
            out.append((data, kw, "image"))
            continue
        t = targets.get(rec.get("head"))
        if t is None:
            continue
        ch = rec.get("channel")
        if t.kind == "sigmoid":
            data = t.data[t.channels.index(ch)]
        elif ch is None:
            data = t.data
        else:   # a binary mask that was painted into the label map
            data = (t.data == t.channels.index(ch)).view(np.uint8)
        if rec.get("dtype"):
            data = data.astype(np.dtype(rec["dtype"]), copy=False)
        kw = _kwargs(rec, f"{case.name} {ch or t.head}", case.spacing, bind)
        # the same colour per channel name as the prediction and the ground truth
        kw["colormap"] = mask_colormap(ch) if ch is not None else label_colormap(t.channels)
        out.append((np.ascontiguousarray(data), kw, "labels"))
    return out


def default_records(case: ExportedCase) -> list[dict[str, Any]]:
    """Layer records for a case exported without any (from the CLI)."""
    recs: list[dict[str, Any]] = [{"role": "image", "name": case.name,
                                   "metadata": {"kind": "image"}}]
    for t in case.targets:
        base = {"head": t.head, "head_kind": t.kind}
        if t.kind == "softmax":
            recs.append({"role": "target", "head": t.head, "channel": None,
                         "name": f"{case.name} {t.head}",
                         "metadata": {"kind": "labels", **base, "channel": None,
                                      "classes": list(t.channels)}})
        else:
            recs.extend({"role": "target", "head": t.head, "channel": c,
                         "name": f"{case.name} {c}",
                         "metadata": {"kind": "mask", **base, "channel": c}}
                        for c in t.channels)
    return recs


def _exported_meta(m: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON metadata an export keeps: no arrays, no review-session binding."""
    return json_meta(m) or None


def layer_record(layer: Any) -> dict[str, Any]:
    """What the reader needs to rebuild ``layer``: name, scale, dtype, SegReview metadata.

    Image layers also keep ``rgb`` and ``contrast_limits``.
    """
    rec = {"name": layer.name, "scale": [float(s) for s in layer.scale],
           "translate": [float(s) for s in layer.translate],
           "dtype": np.dtype(layer.data.dtype).str,   # never reads a lazy (dask) array
           "metadata": _exported_meta(meta(layer))}
    if hasattr(layer, "contrast_limits") and not hasattr(layer, "selected_label"):
        rec.update(rgb=bool(getattr(layer, "rgb", False)),
                   contrast_limits=[float(c) for c in layer.contrast_limits])
    return rec


def _spacing(meta: dict[str, Any], ndim: int) -> tuple[float, ...] | None:
    scale = meta.get("scale")
    if scale is None:
        return None
    return tuple(float(s) for s in scale)[-ndim:]


def write_multihot(path: str, layer_data: list[tuple]) -> list[str]:
    """npe2 writer: binary Labels layers -> one multi-hot stack ``(C, ...)`` uint8 file."""
    if not layer_data:
        raise FormatError("select one or more binary Labels layers to save.")
    shapes = {np.shape(d) for d, _, _ in layer_data}
    if len(shapes) != 1:
        raise FormatError(f"the selected layers have different shapes {sorted(shapes)}; select "
                          "layers of one image.")
    names = [channel_name((m.get("metadata") or {}).get(KEY, {}), str(m.get("name")))
             for _, m, _ in layer_data]
    if len(set(names)) != len(names):
        names = [str(m.get("name")) for _, m, _ in layer_data]
    stack = np.stack([np.asarray(d) for d, _, _ in layer_data])
    report = check_binary(stack, names)
    if not report.ok:
        raise FormatError(f"{report.findings[0].message[:-1]}; a multi-hot stack holds binary "
                          "masks: save that layer as a label map instead.")
    meta = ArrayMeta("multihot", names, spacing=_spacing(layer_data[0][1], stack.ndim - 1))
    write_array(path, stack.astype(np.uint8), meta)
    return [path]


def write_label_map(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """npe2 writer: one Labels layer -> a label map file with its class names."""
    arr = np.asarray(data)
    if arr.dtype.kind not in "biu":
        raise FormatError("a label map holds integer labels; this layer holds "
                          f"{arr.dtype} data.")
    seg = (meta.get("metadata") or {}).get(KEY, {})
    classes = seg.get("classes")
    out = arr.view(np.uint8) if arr.dtype == np.bool_ else arr   # the layer's own dtype
    write_array(path, out, ArrayMeta("labels", classes, spacing=_spacing(meta, arr.ndim)))
    return [path]
