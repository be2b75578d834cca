"""``segreview export``: turn an image and its (corrected) masks into training targets.

Registered in :mod:`napari_segreview.cli` through :func:`add_export`. The same
core functions as the Export widget: :func:`~napari_segreview.targets.build.build_targets`,
:class:`~napari_segreview.targets.build.ExportCase` and
:func:`~napari_segreview.targets.export.export_case`. Every check runs before
anything is written, so a user error leaves the export folder as it was.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from napari_segreview.cli._common import comma_list
from napari_segreview.errors import FormatError
from napari_segreview.targets.choices import EXPORT_FORMATS, IMAGE_MODES, WEIGHT_METHODS

__all__ = ["EXPORT_FORMATS", "add_export", "run_export"]

EXPORT_HELP = """\
Export one image and its masks as training targets into an export folder
(created if missing; cases are added to an existing export of the same card):
a label map per softmax head (CrossEntropyLoss, 255 = ignore), a multi-hot
stack per sigmoid head (BCEWithLogitsLoss), the image (raw or normalised as
the model saw it), a manifest with checksums, and statistics.json with the
class frequencies, CrossEntropyLoss weights and BCEWithLogitsLoss pos_weight
over every case of the folder. --format nnunet writes an nnU-Net v2 raw
dataset (imagesTr, labelsTr, dataset.json with regions for overlapping masks).

With a model card, give one file per head (--target HEAD=FILE), e.g. the files
that `segreview predict` wrote and you corrected. Without a card, say which
file is a sigmoid (multi-hot) target and which a softmax (label map) target.
"""

EXPORT_EPILOG = """\
examples:
  segreview export scan.tif --card bone.card.yaml --target whole=pred/whole.tif \\
      --target parts=pred/parts.tif -o export/
  segreview export scan.tif --card bone.card.yaml --target whole=w.tif --target parts=p.tif \\
      -o Dataset501_Bone --format nnunet
  segreview export scan.tif --sigmoid masks.tif --softmax parts.tif --classes a,b,c -o export/
  segreview export scan.tif --softmax masks.tif --priority later -o export/ --dry-run
  segreview export ct_dicom/ --card bone.card.yaml --target whole=w.tif --target parts=p.tif \\
      -o seg/ --format dicom-seg --corrected
"""


#: What an overlap error tells a CLI user to do (the core's sentence names API arguments).
OVERLAP_REMEDY = ("give --priority with every class, the one that wins first ('later': the "
                  "later class wins; --painting-order: the last one listed wins) or --overlap "
                  "ignore to mark them 255, or export the masks with --sigmoid as a multi-hot "
                  "target (BCEWithLogitsLoss).")


def _pair(text: str) -> tuple[str, str]:
    head, sep, path = text.partition("=")
    if not sep or not head or not path:
        raise argparse.ArgumentTypeError(f"{text!r} is not HEAD=FILE (e.g. parts=parts.tif)")
    return head, path


def add_export(subparsers: Any) -> None:
    """Register ``segreview export``."""
    p = subparsers.add_parser(
        "export", help="export corrected masks as training targets (tif, npz or nnU-Net)",
        description=EXPORT_HELP, epilog=EXPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("image", metavar="IMAGE",
                   help="the image the masks belong to (TIFF, DICOM, NIfTI, .npy/.npz ...)")
    p.add_argument("-o", "--output", required=True, metavar="FOLDER",
                   help="the export folder (new, empty, or an export to add this case to)")
    p.add_argument("--card", metavar="CARD", help="the model card (YAML) the targets follow")
    p.add_argument("--target", action="append", type=_pair, default=[], metavar="HEAD=FILE",
                   help="with --card: the file of one head (softmax: label map, or one mask "
                        "per class but background; sigmoid: multi-hot stack or binary mask)")
    p.add_argument("--sigmoid", metavar="FILE",
                   help="without a card: a multi-hot stack (C, ...) or binary mask, exported "
                        "as the sigmoid target (channel names from the file or --names)")
    p.add_argument("--names", type=comma_list, metavar="A,B",
                   help="channel names of --sigmoid (default: from the file)")
    p.add_argument("--softmax", metavar="FILE",
                   help="without a card: a label map, or a stack of one mask per class, "
                        "exported as the softmax target")
    p.add_argument("--classes", type=comma_list, metavar="A,B",
                   help="class names of --softmax, background left out (default: from the "
                        "file)")
    rule = p.add_mutually_exclusive_group()
    rule.add_argument("--priority", type=comma_list, metavar="A,B,C",
                      help="masks -> label map where they overlap: every class, the first "
                           "listed wins (as in the Review panel's priority list); 'later': "
                           "the later class wins")
    rule.add_argument("--painting-order", type=comma_list, metavar="A,B,C",
                      help="masks -> label map where they overlap: every class in the order "
                           "they are painted, the last one wins (--priority reversed)")
    rule.add_argument("--overlap", choices=["ignore"],
                      help="masks -> label map: mark overlapping voxels 255 (ignore)")
    p.add_argument("--ignore-mask", metavar="FILE",
                   help="voxels marked unlabelled/uncertain (non-zero): 255 in softmax targets")
    p.add_argument("--ignore-outside-parent", action="store_true",
                   help="softmax heads with 'within': 255 outside the parent mask instead of "
                        "background (not with --format nnunet)")
    p.add_argument("--format", choices=(*EXPORT_FORMATS, "dicom-seg"), default="tif",
                   help="tif or npz files per case, an nnU-Net v2 raw dataset, or dicom-seg: "
                        "one DICOM SEG per case (<case>.seg.dcm, or the .dcm given as -o) "
                        "referencing the DICOM series IMAGE (default tif)")
    p.add_argument("--corrected", action="store_true",
                   help="with --format dicom-seg: the masks were corrected by a person, so "
                        "their segments are SEMIAUTOMATIC (default AUTOMATIC: the model's "
                        "output as it came; MANUAL without a card)")
    p.add_argument("--image-mode", choices=IMAGE_MODES, default="raw",
                   help="store the image as loaded (default) or normalised as the model saw "
                        "it (needs --card)")
    p.add_argument("--case", metavar="NAME", help="the case name (default: the image's name)")
    p.add_argument("--weights", choices=WEIGHT_METHODS, default="inverse_frequency",
                   help="CrossEntropyLoss class weights written as 'weight' (both are given)")
    p.add_argument("--spacing", type=comma_list, metavar="Z,Y,X",
                   help="voxel spacing, when the image file does not carry it")
    p.add_argument("--dry-run", action="store_true",
                   help="print the statistics the export would have; write nothing")
    p.add_argument("--force", action="store_true", help="replace a case of the same name")
    p.set_defaults(func=run_export)


def _read(path: str, series: Any = None) -> tuple[np.ndarray, Any]:
    """A mask file; a DICOM SEG goes on ``series`` (the image's), refused if another space."""
    import warnings

    from napari_segreview.io.arrayfiles import ArrayMeta, read_array
    from napari_segreview.io.dicomseg import SegNote, is_dicom_seg, read_seg

    if series is None or not is_dicom_seg(path):
        return read_array(path)
    seg = read_seg(path, series)       # matched by SOP instance; another frame: one sentence
    for note in seg.notes:
        warnings.warn(note, SegNote, stacklevel=2)
    if series.shape[0] == 1:           # one slice: a 2-D image
        return seg.masks[:, 0], ArrayMeta("multihot", seg.labels, spacing=seg.spacing[1:])
    return seg.masks, ArrayMeta("multihot", seg.labels, spacing=seg.spacing)


def _image_series(img: Any, spatial: tuple) -> Any:
    """The image's DICOM series (SEG inputs are placed on it), None for other images."""
    from napari_segreview.io.dicomseries import SourceSeries

    dicom = getattr(img, "dicom", None)
    if not dicom or not dicom.get("sop_instance_uids"):
        return None
    return SourceSeries.from_metadata(dicom, spatial, img.spacing or (1.0,) * len(spatial),
                                      getattr(img, "origin", None) or (0.0,) * len(spatial),
                                      img.name)


def _card_and_inputs(args: argparse.Namespace, spatial: tuple) -> tuple[Any, dict, dict]:
    """The card, head -> array, and head -> ArrayMeta of the inputs."""
    from napari_segreview.card.spec import load_card
    from napari_segreview.labels.formats import IGNORE
    from napari_segreview.targets.build import (
        BACKGROUND_NAMES,
        SIGMOID_HEAD,
        SOFTMAX_HEAD,
        card_from_choices,
        check_class_masks,
    )

    if args.card is not None:
        if args.sigmoid or args.softmax:
            raise FormatError("with --card, give the heads' files with --target HEAD=FILE, not "
                              "--sigmoid/--softmax.")
        if not args.target:
            raise FormatError("give at least one --target HEAD=FILE (a head of the card).")
        card = load_card(args.card)
        heads = {h.name for h in card.heads}
        inputs, metas = {}, {}
        for head, path in args.target:
            if head not in heads:
                raise FormatError(f"the card has no head {head!r}; its heads are "
                                  f"{', '.join(h.name for h in card.heads)}.")
            inputs[head], metas[head] = _read(path, getattr(args, "image_series", None))
        return card, inputs, metas
    if args.target:
        raise FormatError("--target needs --card; without a card use --sigmoid and --softmax.")
    if not (args.sigmoid or args.softmax):
        raise FormatError("give --card with --target HEAD=FILE, or --sigmoid/--softmax files.")
    inputs, metas = {}, {}
    sig_names: list[str] = []
    soft_names: list[str] = []
    if args.sigmoid:
        data, meta = _read(args.sigmoid, getattr(args, "image_series", None))
        if data.shape == spatial:
            data = data[None]
        sig_names = args.names or list(meta.channel_names or
                                       [f"ch{i}" for i in range(data.shape[0])])
        inputs[SIGMOID_HEAD], metas[SIGMOID_HEAD] = data, meta
    if args.softmax:
        data, meta = _read(args.softmax, getattr(args, "image_series", None))
        if args.classes:
            soft_names = args.classes
            if data.shape == spatial and any(c.strip().lower() in BACKGROUND_NAMES
                                             for c in soft_names):
                raise FormatError("--classes names the classes 1, 2, ... of the label map; "
                                  "leave the background out (value 0 is the background).")
        elif data.shape == spatial:
            names = list(meta.channel_names or ())
            values = data[data != IGNORE]
            top = max(int(values.max()) if values.size else 1, 1)
            soft_names = names[1:] if len(names) > 1 else [f"class_{i}" for i in
                                                          range(1, top + 1)]
        else:
            soft_names = list(meta.channel_names or [f"class_{i + 1}"
                                                     for i in range(data.shape[0])])
        if data.shape != spatial:           # one mask per class: no background mask
            check_class_masks(soft_names)
        inputs[SOFTMAX_HEAD], metas[SOFTMAX_HEAD] = data, meta
    card = card_from_choices(sig_names, soft_names)
    return card, inputs, metas


def prepare_case(args: argparse.Namespace) -> Any:
    """Read the files and build the :class:`ExportCase` (all checks, nothing written)."""
    from napari_segreview.io.read import read_image
    from napari_segreview.targets.build import (
        ExportCase,
        build_targets,
        image_spatial_shape,
        softmax_from_masks,
    )

    if args.image_mode == "normalized" and args.card is None:
        raise FormatError("--image-mode normalized needs a model card (its input.normalize); "
                          "give --card or export the raw image.")
    img = read_image(args.image)
    image = np.asarray(img.data)
    spatial = tuple(image.shape[:-1] if img.rgb else image.shape)
    args.image_series = _image_series(img, spatial)   # a SEG input goes on the image's series
    card, inputs, _ = _card_and_inputs(args, spatial)
    spatial = image_spatial_shape(image, card.input)
    rule: dict[str, Any] = {}
    if args.priority:
        rule["priority"] = "later" if args.priority == ["later"] else args.priority
    elif args.painting_order:
        rule["painting_order"] = args.painting_order
    elif args.overlap:
        rule["overlap"] = "ignore"
    for h in card.heads:
        data = inputs.get(h.name)
        if (h.kind == "softmax" and data is not None and data.ndim == len(spatial) + 1
                and data.shape[0] == len(h.channels) - 1):
            inputs[h.name] = softmax_from_masks(h, list(data), **rule)
    ignore = None
    if args.ignore_mask:
        ignore = _read(args.ignore_mask)[0]
    if args.ignore_outside_parent and args.format == "nnunet":
        raise FormatError("--ignore-outside-parent does not apply to --format nnunet: its "
                          "regions already keep parts inside the parent; leave it off.")
    targets = build_targets(card, inputs, spatial, ignore=ignore,
                            ignore_outside_parent=args.ignore_outside_parent)
    spacing = tuple(float(s) for s in args.spacing) if args.spacing else img.spacing
    name = args.case or img.name.split(".")[0]
    args.image_dicom = getattr(img, "dicom", None)   # the series' references (dicom-seg)
    return ExportCase(name, image, targets, card, spacing=spacing, source=str(args.image),
                      image_mode=args.image_mode)


def run_export(args: argparse.Namespace) -> int:
    """Handle ``segreview export``: build the case, export it (or preview), print a summary."""
    from napari_segreview.errors import OverlapError
    from napari_segreview.targets.build import overlap_sentence
    from napari_segreview.targets.classstats import summary_lines
    from napari_segreview.targets.export import export_case, preview_statistics

    if args.corrected and args.format != "dicom-seg":
        raise FormatError("--corrected applies to --format dicom-seg only (it marks the "
                          "segments SEMIAUTOMATIC); leave it off for other formats.")
    try:
        case = prepare_case(args)
    except OverlapError as exc:
        raise FormatError(overlap_sentence(exc, OVERLAP_REMEDY)) from exc
    except ValueError as exc:
        raise FormatError(str(exc)) from exc
    out = Path(args.output)
    if args.dry_run:
        stats = preview_statistics(out if out.is_dir() else None, [case], method=args.weights)
        print(f"dry run: nothing written; statistics after adding case {case.name!r}:")
    elif args.format == "dicom-seg":
        from napari_segreview.targets.dicomseg import export_seg_case

        result = export_seg_case(out, case, dicom=getattr(args, "image_dicom", None),
                                 corrected=args.corrected, overwrite=args.force)
        stats = result.statistics
        print(result.summary())
    else:
        result = export_case(out, case, fmt=args.format, overwrite=args.force,
                             method=args.weights)
        stats = result.statistics
        print(result.summary())
    for line in summary_lines(stats):
        print("  " + line)
    return 0
