"""``segreview edit``: one editing effect on a mask file, per label or per channel.

The same core as the Edit panel (:mod:`napari_segreview.editing.region`):
islands, holes, margins, smoothing, fill between slices and logical operators,
on the array files ``segreview convert`` reads and writes. Label maps are
edited per label, multi-hot stacks per channel; the metadata (kind, channel
names, spacing) are kept. Spacing comes from ``--spacing``, else the file
(segreview metadata, or the ImageJ/OME calibration of a TIFF).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from napari_segreview.cli._common import comma_list, positive_int
from napari_segreview.errors import FormatError

__all__ = ["OPS", "add_edit", "run_edit"]

#: The operations of ``--op``.
OPS = ("keep-largest", "remove-small", "keep-at", "fill-holes", "grow", "shrink", "smooth",
       "interpolate", "split", "union", "intersect", "subtract", "copy", "invert", "clear")
_MM_OPS = ("grow", "shrink", "smooth")

EDIT_HELP = """\
Apply one editing effect to a label file (.tif/.tiff, .npy, .npz) and write
the result: label maps are edited per label (removed voxels become 0, nothing
grows into another label), multi-hot stacks per channel. Distances are in mm
with the voxel spacing of --spacing or of the file.
"""

EDIT_EPILOG = """\
operations:
  keep-largest   keep the largest component (per label / channel); --connectivity
  remove-small   remove components below --voxels N or --mm V (a volume in mm^3)
  keep-at        keep only the component under --at Z,Y,X (voxel indices)
  fill-holes     fill enclosed background, in 3-D or --per-slice along --axis
  grow, shrink   by --mm F millimetres (exact Euclidean distance, anisotropic)
  smooth         --method median|opening|closing|gaussian with --mm (radius/sigma);
                 label maps: a joint Gaussian vote that keeps one label per voxel
  interpolate    fill the slices between --slices (default: the slices that hold
                 the structure) along --axis by morphological contour interpolation
  split          label maps: every component but the largest gets a new label
  union, intersect, subtract, copy   stacks: --channels (targets) with --modifier
  invert, clear  stacks: --channels
  --slab START:STOP limits any op to those slices along --axis (stop excluded)
examples:
  segreview edit pred.tif -o clean.tif --op keep-largest
  segreview edit masks.npz -o masks2.npz --op remove-small --mm 50 --channels cyst
  segreview edit masks.npz -o grown.npz --op grow --mm 2 --channels bone --spacing 2.5,0.7,0.7
  segreview edit corrected.tif -o filled.tif --op interpolate --slices 10,20,30 --axis 0
  segreview edit pred.tif -o one.tif --op keep-at --at 40,210,300 --slab 30:50
"""


def _slices(text: str) -> list[int]:
    """``3,9,15`` or ``START:STOP[:STEP]`` (stop excluded)."""
    out: list[int] = []
    for item in comma_list(text):
        parts = item.split(":")
        if not all(p.strip().isdigit() for p in parts) or len(parts) > 3:
            raise argparse.ArgumentTypeError(f"{item!r} is not a slice number or START:STOP:STEP")
        nums = [int(p) for p in parts]
        out += [nums[0]] if len(nums) == 1 else list(range(*nums))
    return out


def _axis(text: str) -> int:
    named = {"z": 0, "y": 1, "x": 2}
    if text.lower() in named:
        return named[text.lower()]
    if text in ("0", "1", "2"):
        return int(text)
    raise argparse.ArgumentTypeError(f"{text!r} is not an axis; use 0, 1, 2 or z, y, x")


def _spacing(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in comma_list(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of sizes like 2.5,0.7,0.7"
                                         ) from None
    if not all(v > 0 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: voxel sizes must be more than 0 mm")
    return values


def _point(text: str) -> tuple[int, ...]:
    items = comma_list(text)
    if not items or not all(i.strip().isdigit() for i in items):
        raise argparse.ArgumentTypeError(f"{text!r} is not a voxel like 40,210,300 (whole "
                                         "numbers from 0)")
    return tuple(int(i) for i in items)


def _slab(text: str) -> tuple[int, int]:
    parts = text.split(":")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts) or \
            int(parts[0]) >= int(parts[1]):
        raise argparse.ArgumentTypeError(f"{text!r} is not a slab START:STOP with START "
                                         "below STOP, e.g. 30:50")
    return int(parts[0]), int(parts[1])


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def add_edit(subparsers: Any) -> None:
    """Register ``segreview edit``."""
    p = subparsers.add_parser(
        "edit", help="apply an editing effect (islands, holes, margins, smoothing, "
                     "interpolation)",
        description=EDIT_HELP, epilog=EDIT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="INPUT", help="the label map or channel stack to edit")
    p.add_argument("-o", "--output", metavar="OUTPUT", required=True,
                   help="the file to write (.tif, .tiff, .npy or .npz)")
    p.add_argument("--op", required=True, choices=OPS, metavar="OP",
                   help="the effect: " + ", ".join(OPS))
    p.add_argument("--channels", type=comma_list, metavar="A,B",
                   help="channels (stack) or labels (label map) to edit, by name or number; "
                        "default: all")
    p.add_argument("--modifier", metavar="NAME",
                   help="union/intersect/subtract/copy: the other channel")
    p.add_argument("--mm", type=_number, metavar="F",
                   help="grow/shrink: distance in mm; smooth: kernel in mm (default 1); "
                        "remove-small: volume in mm^3")
    p.add_argument("--voxels", type=positive_int, metavar="N",
                   help="remove-small: components with fewer voxels are removed")
    p.add_argument("--method", default=None,
                   choices=("median", "opening", "closing", "gaussian"),
                   help="smooth: the filter (default median; gaussian for label maps)")
    p.add_argument("--axis", type=_axis, default=0, metavar="A",
                   help="interpolate / fill-holes --per-slice: the slice axis (0, 1, 2 or "
                        "z, y, x; default 0)")
    p.add_argument("--slices", type=_slices, metavar="LIST",
                   help="interpolate: the key slices, e.g. 10,20,30 or 0:100:10")
    p.add_argument("--per-slice", action="store_true", help="fill-holes: slice by slice")
    p.add_argument("--at", type=_point, metavar="Z,Y,X",
                   help="keep-at: a voxel of the component to keep (indices from 0)")
    p.add_argument("--slab", type=_slab, metavar="START:STOP",
                   help="edit only slices START..STOP-1 along --axis (default: the volume)")
    p.add_argument("--connectivity", type=int, choices=(6, 26), default=26,
                   help="islands: face (6) or full (26) neighbours (default 26)")
    p.add_argument("--spacing", type=_spacing, metavar="Z,Y,X",
                   help="voxel size in mm (default: the file's)")
    p.add_argument("--from", dest="kind", choices=("labels", "multihot"),
                   help="what INPUT holds when its metadata do not say (default: labels "
                        "for 2-D/3-D arrays, multihot for 4-D)")
    p.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")
    p.set_defaults(func=run_edit)


def _params(args: argparse.Namespace, is_labels: bool) -> dict[str, Any]:
    from napari_segreview.editing.logic import NEEDS_MODIFIER

    op = args.op
    params: dict[str, Any] = {"connectivity": args.connectivity}
    if op in ("grow", "shrink"):
        if args.mm is None:
            raise FormatError(f"--op {op} needs --mm, the distance in millimetres.")
        params["mm"] = args.mm
    elif op == "smooth":
        if is_labels and args.method not in (None, "gaussian"):
            raise FormatError(f"a label map is smoothed jointly (a Gaussian vote that keeps "
                              f"one label per voxel), not by --method {args.method}; leave "
                              "--method out, or convert to channels (--to multihot) first.")
        params["mm"] = 1.0 if args.mm is None else args.mm
        params["method"] = args.method or ("gaussian" if is_labels else "median")
    elif op == "remove-small":
        if (args.mm is None) == (args.voxels is None):
            raise FormatError("--op remove-small needs one of --voxels N (a count) and "
                              "--mm V (a volume in mm^3).")
        params.update(voxels=args.voxels, mm3=args.mm)
    elif op == "interpolate":
        params.update(key_slices=args.slices, axis=args.axis)
    elif op == "fill-holes":
        params.update(per_slice=args.per_slice, axis=args.axis)
    elif op == "keep-at":
        if args.at is None:
            raise FormatError("--op keep-at needs --at Z,Y,X, a voxel of the component to keep.")
        params["point"] = args.at
    if args.at is not None and op != "keep-at":
        raise FormatError(f"--at is for --op keep-at, not {op}; leave it out.")
    if args.modifier is not None and op not in NEEDS_MODIFIER:
        raise FormatError(f"--modifier is for --op {', '.join(NEEDS_MODIFIER)}, not {op}; "
                          "leave it out.")
    if args.modifier is None and op in NEEDS_MODIFIER:
        raise FormatError(f"--op {op} needs --modifier NAME, the other channel.")
    return params


def _where(args: argparse.Namespace, shape: tuple[int, ...]) -> dict[str, Any]:
    """The region keywords of ``--slab`` (a slab ``thickness`` slices from START)."""
    if args.slab is None:
        return {}
    start, stop = args.slab
    if args.axis >= len(shape) or stop > shape[args.axis]:
        raise FormatError(f"the slab {start}:{stop} ends beyond the "
                          f"{shape[args.axis] if args.axis < len(shape) else 0} slices along "
                          f"axis {args.axis}; give STOP at most the slice count.")
    thickness = stop - start
    return {"where": "slab", "axis": args.axis, "index": start + (thickness - 1) // 2,
            "thickness": thickness}


def _targets(items: list[str] | None, names: tuple[str, ...] | None) -> list[int | str] | None:
    if items is None:
        return None
    return [int(i) if i.isdigit() else i for i in items]


def _label_values(items: list[str] | None, names: tuple[str, ...] | None,
                  data: Any) -> list[int] | None:
    if items is None:
        return None
    values = []
    for item in items:
        if item.isdigit():
            values.append(int(item))
        elif names and item in names:
            values.append(list(names).index(item))
        else:
            known = (f"names ({', '.join(names)})" if names
                     else "values (the file has no label names)")
            raise FormatError(f"unknown label {item!r}; give label {known}.")
    named = set(range(len(names))) if names else set()
    for v in values:
        if v not in named and not (data == v).any():
            import numpy as np

            present = ", ".join(str(int(u)) for u in np.unique(data) if u != 0) or "none"
            raise FormatError(f"label {v} is not in the file; its labels are {present}.")
    return values


def run_edit(args: argparse.Namespace) -> int:
    """Handle ``segreview edit``: read, edit, write atomically, print one line."""
    from dataclasses import replace

    import numpy as np

    from napari_segreview.editing.region import edit_labels, edit_stack
    from napari_segreview.io.arrayfiles import file_suffix, read_array, write_array

    out = Path(args.output)
    file_suffix(out)
    if out.exists() and not args.force:
        raise FormatError(f"{out} already exists; choose another OUTPUT or pass --force.")
    data, meta = read_array(args.input)
    kind = meta.kind or args.kind or ("multihot" if data.ndim == 4 else "labels")
    if kind == "atoms":
        raise FormatError(f"{args.input} holds atoms; convert it first "
                          "(segreview convert --to multihot) and edit the channels.")
    is_labels = kind == "labels"
    spatial = data.ndim if is_labels else data.ndim - 1
    if spatial not in (2, 3):
        raise FormatError(f"{args.input} has shape {data.shape}, which is not a 2-D or 3-D "
                          f"{'label map' if is_labels else 'channel stack'}; check --from.")
    if is_labels and data.dtype.kind not in "biu":
        raise FormatError(f"{args.input} holds {data.dtype} values, not labels; give an "
                          "integer label map or --from multihot for a channel stack.")
    spacing = args.spacing or meta.spacing
    if spacing is not None and len(spacing) != spatial:
        raise FormatError(f"the spacing {tuple(spacing)} has {len(spacing)} values for a "
                          f"{spatial}-D {'label map' if is_labels else 'stack'}; pass "
                          f"--spacing with {spatial} values.")
    mm_op = args.op in _MM_OPS or (args.op == "remove-small" and args.mm is not None)
    if mm_op and spacing is None:
        raise FormatError(f"{args.input} carries no voxel spacing and --op {args.op} measures "
                          "in mm; pass --spacing Z,Y,X (mm per voxel).")
    if args.op == "interpolate" and spatial != 3:
        raise FormatError(f"{args.input} is 2-D, and interpolate fills slices of a 3-D "
                          "volume; give a 3-D file.")
    params = _params(args, is_labels)
    data = np.array(data, copy=True)
    params.update(_where(args, data.shape if is_labels else data.shape[1:]))
    if is_labels:
        result = edit_labels(data, args.op, spacing=spacing,
                             labels_to_edit=_label_values(args.channels, meta.channel_names,
                                                          data),
                             **params)
    else:
        if args.op == "split":
            raise FormatError("split gives components new label values; run it on a label "
                              "map (segreview convert --to labels first).")
        names = meta.channel_names
        result = edit_stack(data, args.op, channels=_targets(args.channels, names), names=names,
                            spacing=spacing, modifier=args.modifier, **params)
    result.apply(data)
    new_meta = replace(meta, spacing=tuple(spacing) if spacing is not None else None)
    write_array(out, data, new_meta, overwrite=args.force)
    print(f"{result.message[:-1]}; wrote {out}.")
    return 0
