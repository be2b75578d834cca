"""Saving a fine-tuned model beside its base, never over it, all three files or none.

Three files appear together (written in a hidden staging folder, then moved
in; on any failure none of them remains, see :func:`napari_segreview._util.files.staged`):

* the model, ``<base stem>_v2<suffix>`` by default (the next free version):
  a state dict (``torch.save(model.state_dict())``, loadable with
  ``weights_only=True`` and the same factory) for a factory model, TorchScript
  (``torch.jit.save``) for a TorchScript model, a ``torch.export`` program
  (``torch.export.save``, the base program with the trained weights) for a
  ``.pt2`` model;
* its card, ``<stem>.card.yaml``: the base card, with a comment naming its parent;
* ``<stem>.training.json``: what was trained on and how, and what it gained.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import warnings
from pathlib import Path
from typing import Any

import torch
import yaml

from napari_segreview._util.files import staged
from napari_segreview.card.spec import ModelCard
from napari_segreview.errors import FormatError
from napari_segreview.training.trainable import Trainable

__all__ = ["card_path", "check_output", "file_sha256", "next_version", "save_model",
           "training_json_path"]


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file.

    Examples
    --------
    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "m.pt"
    >>> _ = f.write_bytes(b"abc")
    >>> file_sha256(f) == hashlib.sha256(b"abc").hexdigest()
    True
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def card_path(model: str | os.PathLike) -> Path:
    """``<stem>.card.yaml`` beside a model file (where ``find_card`` looks first).

    Examples
    --------
    >>> card_path("models/bone_v2.pt").as_posix()
    'models/bone_v2.card.yaml'
    """
    model = Path(model)
    return model.with_name(f"{model.stem}.card.yaml")


def training_json_path(model: str | os.PathLike) -> Path:
    """``<stem>.training.json`` beside a model file.

    Examples
    --------
    >>> training_json_path("models/bone_v2.pt").as_posix()
    'models/bone_v2.training.json'
    """
    model = Path(model)
    return model.with_name(f"{model.stem}.training.json")


def _taken(p: Path) -> bool:
    return p.exists() or card_path(p).exists() or training_json_path(p).exists()


def next_version(base: str | os.PathLike) -> Path:
    """The first free ``<stem>_vN<suffix>`` beside ``base`` (N from 2, or after the base's own).

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> next_version(d / "net.pt").name, next_version(d / "net_v3.pt2").name
    ('net_v2.pt', 'net_v4.pt2')
    """
    base = Path(base)
    m = re.fullmatch(r"(.*)_v(\d+)", base.stem)
    stem, n = (m.group(1), int(m.group(2)) + 1) if m else (base.stem, 2)
    while _taken(base.with_name(f"{stem}_v{n}{base.suffix}")):
        n += 1
    return base.with_name(f"{stem}_v{n}{base.suffix}")


def check_output(base: Path, out: Path | None) -> Path:
    """The new model's path, refused when it would replace the base or an existing file.

    Examples
    --------
    >>> import tempfile
    >>> base = Path(tempfile.mkdtemp()) / "net.pt"
    >>> _ = base.write_bytes(b"weights")
    >>> check_output(base, None).name
    'net_v2.pt'
    >>> check_output(base, base)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    napari_segreview.errors.FormatError: -o ... is the base model, which is never overwritten; ...
    """
    out = next_version(base) if out is None else Path(out)
    if out.resolve() == base.resolve():
        raise FormatError(f"-o {out} is the base model, which is never overwritten; choose a "
                          "new file name (leave -o out for the next version).")
    for p in (out, card_path(out), training_json_path(out)):
        if p.exists():
            raise FormatError(f"{p} already exists; choose another -o (or leave it out for the "
                              "next free version).")
    if not out.parent.is_dir():
        raise FormatError(f"the folder {out.parent} does not exist; create it first.")
    if card_path(out) == card_path(base) or out.suffix == ".yaml":
        raise FormatError(f"{out} cannot hold a model; give a model file name such as "
                          f"{next_version(base).name}.")
    return out


def _model_bytes(model: Trainable) -> bytes:
    buf = io.BytesIO()
    module = model.module
    if model.format == "factory":
        torch.save({k: v.detach().cpu() for k, v in module.state_dict().items()}, buf)
    elif model.format == "export":
        program = torch.export.load(model.source)
        trained = module.state_dict()
        with torch.no_grad():
            for k, v in program.state_dict.items():
                if k in trained:
                    v.copy_(trained[k].to(v.device))
        torch.export.save(program, buf)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.jit.save(module.cpu() if next(module.parameters()).is_cuda else module, buf)
    return buf.getvalue()


def _card_text(card: ModelCard, base: Path, sha: str, out: Path) -> str:
    head = (f"# Fine-tuned by segreview train from {base.name} (sha256 {sha[:16]}...),\n"
            f"# parent card: {card.name}; what it was trained on and the held-out Dice\n"
            f"# before and after: {training_json_path(out).name}.\n")
    return head + yaml.safe_dump(card.to_dict(), sort_keys=False)


def save_model(model: Trainable, card: ModelCard, out: Path, record: dict[str, Any]) -> dict:
    """Write the model, its card and ``training.json`` together; return their paths.

    Raises
    ------
    FormatError
        When writing fails (a full disk, no permission): nothing of the three
        remains, and the base model is unchanged.
    """
    out = Path(out)
    sha = record.get("base_model", {}).get("sha256") or file_sha256(model.source)
    paths = {"model": out, "card": card_path(out), "training_json": training_json_path(out)}
    record = {**record, "files": {k: str(v) for k, v in paths.items()}}
    try:
        data = {"model": _model_bytes(model),
                "card": _card_text(card, model.source, sha, out).encode("utf-8"),
                "training_json": (json.dumps(record, indent=1, allow_nan=False)
                                  + "\n").encode("utf-8")}
        with staged(out.parent, out.name) as st:
            for key, path in paths.items():
                staged_file = st.write(path.name, lambda fh, b=data[key]: fh.write(b))
                st.move(staged_file, path, overwrite=False)
    except OSError as exc:
        why = exc.strerror or str(exc) or type(exc).__name__
        raise FormatError(f"could not write the new model to {out.parent} ({why}): free disk "
                          "space or choose another -o; nothing was written and the base model "
                          "is unchanged.") from exc
    return paths
