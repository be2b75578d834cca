"""Export training targets as an nnU-Net v2 raw dataset (imagesTr, labelsTr, dataset.json).

nnU-Net trains on one integer label map per case. Two ways to get there:

* **labels**: the export has a single softmax head. Its label map is written as
  is; ``labels`` maps ``background`` to 0 and every class to its value.
* **regions**: any sigmoid head (overlapping channels), or several heads (the
  composite "whole + parts" head). Every sigmoid channel and every softmax
  class but background becomes a channel of one multi-hot stack, which is
  encoded losslessly as *atoms* (:mod:`napari_segreview.labels.atoms`): one
  integer per combination of channels. In ``dataset.json`` each channel is a
  *region*, the list of atoms it covers; nnU-Net trains one sigmoid output per
  region (region-based training). ``regions_class_order[i]`` is the label
  nnU-Net paints where region ``i`` is predicted (later regions paint over
  earlier ones): regions are listed from the largest to the smallest and each
  paints the atom of the channels it implies, which restores the atoms exactly
  for nested regions such as whole > parts (partial overlaps cannot be painted
  into one label map: use nnU-Net's per-region probabilities for those).

The atom table is shared by the whole dataset and only grows: appending a case
with a new combination of channels gives it the next atom number, and earlier
label files stay valid; a channel with no voxel yet gets an atom of its own so
that its region is never empty. Voxels marked 255 (ignore) become nnU-Net's ``ignore``
label, the highest label value. Files are NIfTI (``.nii.gz``, via nibabel),
with the voxel spacing in the header, laid out as nnU-Net's ``NibabelIO``
reads them; 2-D images are stored as one slice with a z spacing of 999
(:func:`napari_segreview.io.nifti.write_nifti`).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from napari_segreview._util.arrays import blocks, label_dtype
from napari_segreview._util.files import staged
from napari_segreview._util.markers import NNUNET_DATASET
from napari_segreview.errors import FormatError
from napari_segreview.io.nifti import read_nifti_array, write_nifti
from napari_segreview.labels.atoms import AtomTable, atoms_to_multihot, multihot_to_atoms
from napari_segreview.labels.formats import IGNORE
from napari_segreview.targets._folder import (
    MARKER,
    ExportedCase,
    ExportResult,
    case_manifest,
    check_folder,
    manifests,
    new_marker,
    read_json,
    sha256,
    target_entry,
    update_statistics,
    verified,
    write_json,
)
from napari_segreview.targets.build import ExportCase, Target, safe_name

__all__ = ["FILE_ENDING", "dataset_json", "encode_regions", "export_nnunet_case",
           "read_nnunet", "region_channels"]

FILE_ENDING = ".nii.gz"
_RESERVED = ("background", "ignore")


# ----------------------------------------------------------------------------- label encoding


def region_channels(targets: list[Target]) -> list[str]:
    """Channels of the region stack: sigmoid channels, and softmax classes but background.

    Examples
    --------
    >>> t1 = Target("whole", "sigmoid", ("whole",), np.zeros((1, 2), np.uint8))
    >>> t2 = Target("parts", "softmax", ("background", "a", "b"), np.zeros(2, np.uint8))
    >>> region_channels([t1, t2])
    ['whole', 'a', 'b']
    """
    names = []
    for t in targets:
        names.extend(t.channels if t.kind == "sigmoid" else t.channels[1:])
    for n in names:
        if n.lower() in _RESERVED:
            raise FormatError(f"a channel may not be called {n!r} in an nnU-Net dataset (it is "
                              "one of nnU-Net's own labels); rename it.")
    if len({n.lower() for n in names}) != len(names):
        raise FormatError(f"the channels {', '.join(names)} repeat a name; nnU-Net labels "
                          "need unique names: rename one.")
    return names


def _region_stack(targets: list[Target], spatial: tuple) -> tuple[np.ndarray, np.ndarray]:
    rows = []
    n = int(np.prod(spatial))
    ignore = np.zeros(n, bool)
    for t in targets:
        if t.kind == "sigmoid":
            rows.extend(np.ascontiguousarray(t.data).reshape(len(t.channels), -1))
        else:
            flat = np.ascontiguousarray(t.data).reshape(-1)
            for c in range(1, len(t.channels)):
                rows.append((flat == c).view(np.uint8))
            ignore |= flat == IGNORE
    return np.stack(rows), ignore


def encode_regions(targets: list[Target], table: AtomTable | None
                   ) -> tuple[np.ndarray, AtomTable, np.ndarray]:
    """Atoms of the region stack, numbered consistently with ``table`` (grown as needed).

    Returns the atom map (ignored voxels still hold their atom), the grown
    table, and the flat ignore mask.

    Examples
    --------
    >>> t = Target("r", "sigmoid", ("a", "b"), np.array([[1, 1, 0], [0, 1, 1]], np.uint8))
    >>> old = AtomTable(("a", "b"), np.array([[0, 0], [1, 1]], bool))
    >>> atoms, table, _ = encode_regions([t], old)
    >>> atoms.tolist(), table.regions()
    ([2, 1, 3], {'a': [1, 2], 'b': [1, 3]})
    """
    names = region_channels(targets)
    spatial = targets[0].spatial_shape
    stack, ignore = _region_stack(targets, spatial)
    local, ltable = multihot_to_atoms(stack, names)
    if table is None:
        table = AtomTable(tuple(names), np.zeros((1, len(names)), bool))
    if table.names != tuple(names):
        raise FormatError(f"the dataset's channels are {', '.join(table.names)} but this case "
                          f"has {', '.join(names)}; export it to another folder.")
    combos = [tuple(r) for r in table.combos]
    lut = np.zeros(ltable.n_atoms, np.int64)
    for a in range(ltable.n_atoms):
        key = tuple(ltable.combos[a])
        if key not in combos:
            combos.append(key)
        lut[a] = combos.index(key)
    for c in range(len(names)):  # a channel absent so far still gets a region: its own atom
        if not any(k[c] for k in combos):
            combos.append(tuple(i == c for i in range(len(names))))
    grown = AtomTable(tuple(names), np.array(combos, bool))
    lut = lut.astype(label_dtype(grown.n_atoms))
    out = np.empty(local.size, lut.dtype)
    flat = local.reshape(-1)
    for s in blocks(flat.size):
        np.take(lut, flat[s], out=out[s])
    return out.reshape(spatial), grown, ignore


def _paint_order(table: AtomTable) -> tuple[list[int], list[int]]:
    """Region (channel) order, largest first, and the atom each region paints.

    Region ``c`` paints the atom of the channels its region implies: every
    channel whose region contains region ``c`` (``part_1`` implies ``whole``
    when all its voxels are inside ``whole``); failing that, its atom with the
    fewest channels.
    """
    regions = {c: set(table.regions()[n]) for c, n in enumerate(table.names)}
    order = sorted(regions, key=lambda c: -len(regions[c]))
    combos = [tuple(np.flatnonzero(r)) for r in table.combos]
    paint = []
    for c in order:
        implied = tuple(d for d in range(len(table.names)) if regions[c] <= regions[d])
        if implied in combos:
            paint.append(combos.index(implied))
        else:
            paint.append(min(regions[c], key=lambda a: (len(combos[a]), a)))
    return order, paint


def dataset_json(marker: dict[str, Any], num_training: int) -> dict[str, Any]:
    """``dataset.json`` for nnU-Net v2 from the export marker's ``nnunet`` entry.

    Examples
    --------
    >>> t = AtomTable(("whole", "part_1"), np.array([[0, 0], [1, 0], [1, 1]], bool))
    >>> m = {"card": {"name": "bone"}, "nnunet": {"mode": "regions", "atom_table": t.to_dict(),
    ...      "ignore_label": None, "channel_names": {"0": "CT"}}}
    >>> d = dataset_json(m, 3)
    >>> d["labels"], d["regions_class_order"], d["numTraining"]
    ({'background': 0, 'whole': [1, 2], 'part_1': 2}, [1, 2], 3)
    """
    nn = marker["nnunet"]
    labels: dict[str, Any] = {"background": 0}
    out: dict[str, Any] = {"name": marker["card"].get("name", "segreview"),
                           "description": "training targets exported by napari-segreview",
                           "channel_names": nn["channel_names"]}
    if nn["mode"] == "labels":
        for i, c in enumerate(nn["classes"][1:], start=1):
            labels[c] = i
    else:
        table = AtomTable.from_dict(nn["atom_table"])
        regions = table.regions()
        order, paint = _paint_order(table)
        for c in order:
            atoms = regions[table.names[c]]
            labels[table.names[c]] = atoms[0] if len(atoms) == 1 else atoms
    if nn.get("ignore_label") is not None:
        labels["ignore"] = nn["ignore_label"]
    out["labels"] = labels
    if nn["mode"] != "labels":
        out["regions_class_order"] = paint
    out.update(numTraining=num_training, file_ending=FILE_ENDING)
    return out


def _channel_names(case: ExportCase) -> dict[str, str]:
    n = case.card.input.channels
    if case.image_mode == "normalized":
        return {str(i): "noNorm" for i in range(n)}
    if n == 3 and case.image.dtype == np.uint8:
        return {str(i): "rgb_to_0_1" for i in range(n)}
    kind = "CT" if case.card.input.normalize.kind == "window" else "zscore"
    return {str(i): kind for i in range(n)}


def _label_map(case: ExportCase, nn: dict | None) -> tuple[np.ndarray, dict[str, Any]]:
    """The case's nnU-Net label map and the marker's (possibly grown) ``nnunet`` entry."""
    ts = case.targets
    if len(ts) == 1 and ts[0].kind == "softmax":
        t = ts[0]
        k = len(t.channels)
        entry = {"mode": "labels", "classes": list(t.channels),
                 "ignore_label": None if nn is None else nn.get("ignore_label")}
        lab = np.array(t.data, copy=True)
        hit = lab == IGNORE
        if hit.any():
            entry["ignore_label"] = k
            lab[hit] = k
        return lab, entry
    table = None if nn is None else AtomTable.from_dict(nn["atom_table"])
    atoms, grown, ignore = encode_regions(ts, table)
    old_ignore = None if nn is None else nn.get("ignore_label")
    if old_ignore is not None and table is not None and grown.n_atoms != table.n_atoms:
        raise FormatError("this case has combinations of channels the dataset has not seen, and "
                          "the dataset's ignore label comes right after its last atom; export "
                          "this case to a new folder.")
    entry = {"mode": "regions", "atom_table": grown.to_dict(), "ignore_label": old_ignore}
    if ignore.any():
        lab_ignore = grown.n_atoms if old_ignore is None else old_ignore
        entry["ignore_label"] = lab_ignore
        atoms = atoms.astype(label_dtype(lab_ignore), copy=False)
        atoms.reshape(-1)[ignore] = lab_ignore
    return atoms, entry


# ----------------------------------------------------------------------------- writing


def export_nnunet_case(folder: Path, case: ExportCase, *, overwrite: bool = False,
                       method: str = "inverse_frequency") -> ExportResult:
    """Add one case to an nnU-Net v2 raw dataset folder (see :func:`~.export.export_case`)."""
    folder = Path(folder)
    name = safe_name(case.name, "case name")
    heads = [t.head for t in case.targets]
    marker = check_folder(folder, "nnunet", case.card, heads)
    mdir, idir, ldir = folder / "manifests", folder / "imagesTr", folder / "labelsTr"
    if (mdir / f"{name}.json").exists() and not overwrite:
        raise FormatError(f"the dataset already has a case {name!r}; choose another case name "
                          "or allow replacing it.")
    channel_names = _channel_names(case)
    if marker is not None and marker["nnunet"]["channel_names"] != channel_names:
        raise FormatError(f"the dataset's images are {marker['nnunet']['channel_names']} but "
                          f"this case's are {channel_names} (raw or normalised image?); "
                          "export it the same way or to another folder.")
    image = case.stored_image()
    labels, entry = _label_map(case, None if marker is None else marker["nnunet"])
    entry["channel_names"] = channel_names
    new = marker is None
    marker = new_marker("nnunet", case.card, heads) if new else dict(marker)
    marker["nnunet"] = entry
    spatial = case.spatial_shape
    chans = [image] if case.card.input.channels == 1 else [image[..., c]
                                                           for c in range(image.shape[-1])]
    final = [idir / f"{name}_{i:04d}{FILE_ENDING}" for i in range(len(chans))]
    final.append(ldir / f"{name}{FILE_ENDING}")
    # folders made here are removed again, and files moved in, if anything fails
    with staged(folder, name) as st:
        for d in (idir, ldir, mdir):
            st.mkdir(d)
        with contextlib.suppress(FileNotFoundError):
            (mdir / f"{name}.json").unlink()  # a replaced case is incomplete while rewritten
        st.track(mdir / f"{name}.json")
        temps = [st.path / p.name for p in final]  # nibabel needs the real ending
        for arr, tmp in zip([*chans, labels], temps, strict=True):
            write_nifti(tmp, arr, case.spacing)
        sums = [sha256(t) for t in temps]
        for tmp, dst in zip(temps, final, strict=True):
            st.move(tmp, dst)
        image_entry = {"files": [str(p.relative_to(folder)) for p in final[:-1]],
                       "sha256": sums[:-1], "mode": case.image_mode,
                       "shape": list(image.shape), "dtype": image.dtype.str}
        tentries = [target_entry(t) for t in case.targets]
        man = case_manifest(case, name, "nnunet", image_entry, tentries)
        man["label"] = {"file": str(final[-1].relative_to(folder)), "sha256": sums[-1],
                        "dtype": labels.dtype.str, "spatial_ndim": len(spatial)}
        man["nnunet"] = entry
        write_json(folder / MARKER, marker)
        write_json(mdir / f"{name}.json", man)
        stats = update_statistics(folder, method)  # one case per manifest
        write_json(folder / NNUNET_DATASET, dataset_json(marker, stats["cases"]))
    return ExportResult(folder, name, [*final, mdir / f"{name}.json"], mdir / f"{name}.json",
                        stats)


# ----------------------------------------------------------------------------- reading


def read_nnunet(root: Path, path: Path) -> list[ExportedCase]:
    """Read cases of an nnU-Net export back into targets (the label map decoded per head)."""
    path = Path(path)
    if path == root:
        chosen = manifests(root)
    elif path.is_file() and path.suffix == ".json" and path.parent.name == "manifests":
        chosen = [read_json(path, "case manifest")]
    else:
        raise FormatError(f"{path} is not an nnU-Net export folder or one of its manifests; "
                          "give the dataset folder or manifests/<case>.json.")
    return [_read_case(root, m) for m in chosen]


def _read_case(root: Path, m: dict) -> ExportedCase:
    img = m["image"]
    nd = m["label"]["spatial_ndim"]
    chans = [read_nifti_array(verified(root / f, {"sha256": s}), nd)[0]
             for f, s in zip(img["files"], img["sha256"], strict=True)]
    image = chans[0] if len(chans) == 1 else np.stack(chans, axis=-1)
    image = image.astype(np.dtype(img["dtype"]), copy=False)
    labels, _ = read_nifti_array(verified(root / m["label"]["file"], m["label"]), nd)
    nn = m["nnunet"]
    ignore_label = nn.get("ignore_label")
    ignore = (labels == ignore_label) if ignore_label is not None else np.zeros(labels.shape, bool)
    targets = []
    if nn["mode"] == "labels":
        e = m["targets"][0]
        data = labels.astype(np.dtype(e["dtype"]))
        data[ignore] = IGNORE
        targets.append(Target(e["head"], "softmax", tuple(e["channels"]), data, e.get("within")))
    else:
        table = AtomTable.from_dict(nn["atom_table"])
        stack = atoms_to_multihot(np.where(ignore, 0, labels), table)
        row = 0
        for e in m["targets"]:
            k = len(e["channels"])
            if e["kind"] == "sigmoid":
                data = np.ascontiguousarray(stack[row:row + k]).astype(np.dtype(e["dtype"]))
                row += k
            else:
                data = np.zeros(labels.shape, np.dtype(e["dtype"]))
                for c in range(1, k):
                    data[stack[row + c - 1] != 0] = c
                data[ignore] = IGNORE
                row += k - 1
            targets.append(Target(e["head"], e["kind"], tuple(e["channels"]), data,
                                  e.get("within")))
    sp = None if m.get("spacing") is None else tuple(m["spacing"])
    return ExportedCase(m["case"], m, image, targets, sp)
