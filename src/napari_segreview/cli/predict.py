"""``segreview predict``: run a model over a stack and write one file per head.

Registered in :mod:`napari_segreview.cli` through :func:`add_predict`. The
handler reads the image with :func:`napari_segreview.io.read.read_image` (TIFF,
DICOM folder or file, NIfTI, folder of slices, PNG/JPEG, ``.npy``/``.npz``),
finds the model card beside the model unless ``--card`` names one, runs
:func:`napari_segreview.inference.predict.predict` and writes, into ``OUT_DIR``:

- ``<head>.<ext>`` for every head: a label map (class index per voxel) for a
  softmax head, a multi-hot stack ``(C, [Z,] Y, X)`` for a sigmoid head, with
  the channel names and the input's voxel spacing (from the image's header:
  DICOM, NIfTI, ImageJ/OME TIFF) in the file's metadata;
- ``<head>_probabilities.<ext>`` with ``--probabilities float16|uint8``.

Nothing partial is ever left: files are written into a hidden temporary
folder beside ``OUT_DIR`` and moved in only once all of them exist; if a move
fails, the files already moved are removed again. torch is imported only when
the command runs, so ``segreview --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from napari_segreview._util.arrays import first_line
from napari_segreview.cli._common import check_targets, positive_int, write_results
from napari_segreview.errors import FormatError
from napari_segreview.io.arrayfiles import WRITE_FORMATS
from napari_segreview.io.results import prediction_files

__all__ = ["ProgressBar", "add_predict", "run_predict"]

PREDICT_HELP = """\
Run a PyTorch segmentation model over an image and write one file per head of
its model card into OUT_DIR: a label map for a softmax head, a multi-hot stack
for a sigmoid head, channel names in the metadata. IMAGE is a TIFF stack, a
DICOM series (its folder or one of its files; values in HU), a NIfTI volume
(.nii, .nii.gz), a folder of 2-D slices, a PNG/JPEG picture, or .npy/.npz; its
voxel spacing is written into the results' metadata. The card (YAML) describes
the model's input and output channels; it is found beside the model
(<model>.card.yaml, <model>.yaml or card.yaml) unless --card names it.
"""

PREDICT_EPILOG = """\
examples:
  segreview predict scan.tif --model bone.pt -o predictions/
  segreview predict dicom/CT_series/ --model bone.pt -o predictions/
  segreview predict ct.nii.gz --model bone.pt -o predictions/
  segreview predict scan.npy --model bone.pt --card bone.card.yaml -o out --probabilities uint8
  segreview predict scan.tif --model bone.pt -o out --device cpu --batch-size 4 --no-amp
  segreview predict scan.tif --model weights.pth --factory mynets:build_unet -o out
"""

def add_predict(subparsers: Any) -> None:
    """Register ``segreview predict``."""
    p = subparsers.add_parser(
        "predict",
        help="run a segmentation model over a stack and write its decisions",
        description=PREDICT_HELP,
        epilog=PREDICT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("image", metavar="IMAGE",
                   help="the image: .tif/.tiff, a DICOM folder or file, .nii/.nii.gz, a folder "
                        "of 2-D slices, .png/.jpg, .npy/.npz")
    p.add_argument("--model", required=True, metavar="MODEL",
                   help="TorchScript (.pt) or torch.export (.pt2) model file, or a checkpoint "
                        "of weights with --factory")
    p.add_argument("--factory", metavar="package.module:function",
                   help="the function that builds the model whose weights MODEL holds (a "
                        "state dict); its module must be importable: installed, or its folder "
                        "on PYTHONPATH")
    p.add_argument("--card", metavar="CARD",
                   help="the model card (YAML); default: found beside MODEL")
    p.add_argument("-o", "--output", dest="out_dir", required=True, metavar="OUT_DIR",
                   help="folder for the results (created if missing; its parent must exist)")
    p.add_argument("--device", default="auto", metavar="{auto,cpu,cuda}",
                   help="where the model runs: auto (a GPU when there is one), cpu, cuda, "
                        "cuda:N (default auto)")
    p.add_argument("--batch-size", type=positive_int, default=8, metavar="N",
                   help="slices or tiles per forward pass (default 8)")
    p.add_argument("--probabilities", choices=("float16", "uint8"),
                   help="also write each head's probabilities, as float16 or as uint8 0..255")
    p.add_argument("--no-amp", dest="amp", action="store_false",
                   help="run in float32 on a GPU instead of bfloat16/float16 autocast")
    p.add_argument("--format", choices=WRITE_FORMATS, default="tif",
                   help="file format of the results (default tif)")
    p.add_argument("--force", action="store_true",
                   help="overwrite result files that already exist in OUT_DIR")
    p.set_defaults(func=run_predict)


class ProgressBar:
    """A one-line text progress bar, drawn only when ``stream`` is a terminal.

    Parameters
    ----------
    label : str
        Text before the bar.
    stream : file-like, optional
        Where to draw (default ``sys.stderr``).
    width : int
        Number of characters of the bar itself.
    unit : str
        What is counted (``"slices"``, ``"tiles"``), written after the count.

    Examples
    --------
    >>> import io
    >>> bar = ProgressBar("predicting", stream=io.StringIO())   # not a tty: silent
    >>> bar(3, 10); bar.close(); bar.stream.getvalue()
    ''
    """

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30,
                 unit: str = "") -> None:
        self.label = label
        self.unit = f" {unit}" if unit else ""
        self.stream = sys.stderr if stream is None else stream
        self.width = width
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(isatty and isatty())
        self._start = time.perf_counter()
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        """Redraw the bar for ``done`` of ``total`` steps."""
        if not self.enabled or total <= 0:
            return
        frac = min(max(done / total, 0.0), 1.0)
        filled = round(frac * self.width)
        elapsed = time.perf_counter() - self._start
        eta = f", {elapsed / frac - elapsed:4.0f} s left" if 0 < frac < 1 else ""
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{total}{self.unit}{eta}   ")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """End the line the bar was drawn on."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def _load_card(args: argparse.Namespace) -> tuple[Any, Path]:
    from napari_segreview.card.spec import find_card, load_card

    if args.card is not None:
        return load_card(args.card), Path(args.card)
    model = Path(args.model)
    found = find_card(model)
    if found is None:
        raise FormatError(
            f"no model card found beside {model} (looked for {model.stem}.card.yaml, "
            f"{model.stem}.yaml and card.yaml); pass --card CARD."
        )
    return load_card(found), Path(found)


def _describe(path: Path, array: Any, meta: Any) -> str:
    shape = "x".join(map(str, array.shape))
    names = ", ".join(meta.channel_names or ())
    what = meta.kind or "probabilities"
    return f"{path} ({what} {array.dtype} {shape}: {names})"


def run_predict(args: argparse.Namespace, progress_stream: TextIO | None = None) -> int:
    """Handle ``segreview predict``: load, predict, write, print what was written."""
    import numpy as np

    from napari_segreview.card.fit import fit_input
    from napari_segreview.io.read import read_image

    out_dir = Path(args.out_dir)
    if not Path(args.model).is_file():
        what = "is a folder, not a model file" if Path(args.model).is_dir() else "does not exist"
        raise FormatError(f"the model file {args.model} {what}; check the --model path.")
    card, card_path = _load_card(args)
    loaded = read_image(args.image)
    for note in loaded.notes:
        print(f"segreview: warning: {' '.join(note.split())}", file=sys.stderr)
    rgb = None if loaded.format == "array" else loaded.rgb  # a .npy says nothing about colour
    image = np.asarray(fit_input(loaded.data, rgb, card, Path(args.image).name, noun="image"))
    spacing = loaded.spacing if loaded.calibrated else None
    # Refuse before the (possibly long) run if results exist and --force is missing.
    heads = [h.name for h in card.heads]
    from napari_segreview.io.results import head_file_name

    planned = [head_file_name(h, args.format) for h in heads]
    if args.probabilities:
        planned += [head_file_name(h, args.format, probabilities=True) for h in heads]
    check_targets(out_dir, planned, args.force)

    from napari_segreview.inference.models import load_model, select_device
    from napari_segreview.inference.predict import OutOfMemoryError, predict
    from napari_segreview.inference.words import model_failure, progress_unit

    device = select_device(args.device)
    model = load_model(args.model, factory=args.factory, device=device,
                       factory_option="add --factory package.module:function")
    bar = ProgressBar(f"predicting {Path(args.image).name}", stream=progress_stream,
                      unit=progress_unit(card))
    t0 = time.perf_counter()
    try:
        prediction = predict(
            image, model, card, device=device, batch_size=args.batch_size, amp=args.amp,
            probabilities=args.probabilities, progress=bar,
        )
    except OutOfMemoryError as exc:
        raise FormatError(
            f"the GPU ran out of memory even at batch size 1 ({first_line(exc)}); "
            "use --device cpu."
        ) from exc
    except RuntimeError as exc:  # the model itself failed on this input
        raise FormatError(model_failure(exc, Path(args.image).name, card_path.name)) from exc
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    for warning in prediction.warnings:
        print(f"segreview: warning: {' '.join(str(warning).split())}", file=sys.stderr)
    files = prediction_files(prediction, spacing, args.format)
    paths = write_results(out_dir, files, args.force)
    for path, (_, array, ameta) in zip(paths, files, strict=True):
        print("wrote " + _describe(path, array, ameta))
    shape = "x".join(map(str, image.shape))
    print(f"predicted {shape} with {Path(args.model).name} on {prediction.device} "
          f"in {seconds:.1f} s")
    return 0

