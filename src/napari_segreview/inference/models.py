"""Loading a user's PyTorch segmentation model, choosing a device, reading its output.

Three ways to hand over a model, recognised from the file's contents (the
suffix is only a hint):

* **TorchScript** (``torch.jit.save``; usually ``.pt``/``.pth``/``.ts``):
  ``torch.jit.load``. Self-contained.
* **torch.export** (``torch.export.save``; ``.pt2``):
  ``torch.export.load(path).module()``. Self-contained; a program exported at
  a fixed size runs at that size, one batch of its size at a time
  (:mod:`~napari_segreview.inference.exported`).
* **factory + checkpoint**: ``factory="package.module:function"`` builds the
  architecture, and the file holds its weights, read with
  ``torch.load(..., weights_only=True)`` (no code in the file is run): a
  bare state dict, or a dict holding it under ``"state_dict"`` or ``"model"``.
  A ``module.`` prefix left by ``DataParallel`` is removed.

Every failure raises :class:`ModelLoadError` with one sentence that says what
to change.
"""

from __future__ import annotations

import importlib
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from napari_segreview._util.arrays import first_line
from napari_segreview.errors import ModelLoadError

__all__ = ["FACTORY_OPTION", "ModelLoadError", "find_devices", "load_model", "select_device",
           "select_output", "to_eval"]

#: How a Python caller gives a factory: the words :func:`load_model` uses by default.
FACTORY_OPTION = "pass factory='package.module:function'"


def _sniff(path: Path) -> str:
    """'export', 'torchscript', 'pickle' (a torch.save file) or 'unknown'."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError):
        with open(path, "rb") as fh:
            head = fh.read(2)
        legacy = head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")
        return "pickle" if legacy else "unknown"  # legacy torch.save: a pickle, protocol 2-5
    tails = {name.split("/", 1)[-1] for name in names}
    if "archive_format" in tails:
        return "export"
    if "constants.pkl" in tails or any(t.startswith("code/") for t in tails):
        return "torchscript"
    if "data.pkl" in tails:
        return "pickle"
    return "unknown"


def _import_factory(factory: str | Callable[[], Any]) -> Callable[[], Any]:
    if callable(factory):
        return factory
    module_name, sep, attr = str(factory).partition(":")
    if not sep or not module_name or not attr:
        raise ModelLoadError(
            f"the factory {factory!r} must be written 'package.module:function', "
            "naming a function that returns the model."
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelLoadError(
            f"the factory module {module_name!r} cannot be imported ({exc}): install the "
            "package that defines the model, put the folder that holds it on PYTHONPATH, "
            "or fix the name."
        ) from exc
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ModelLoadError(
                f"the module {module_name!r} has no {attr!r}: name the function that "
                "builds the model after the colon."
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise ModelLoadError(f"the factory {factory!r} is not a function or class.")
    return obj


def _is_state_dict(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def _extract_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    if _is_state_dict(obj):
        state = dict(obj)
    elif isinstance(obj, Mapping) and any(_is_state_dict(obj.get(k)) for k in _STATE_KEYS):
        state = dict(next(obj[k] for k in _STATE_KEYS if _is_state_dict(obj.get(k))))
    else:
        what = (
            f"a dict with keys {sorted(map(str, obj))[:5]}"
            if isinstance(obj, Mapping)
            else f"a {type(obj).__name__}"
        )
        raise ModelLoadError(
            f"{path.name} holds {what}, not a state dict: save model.state_dict() (alone or "
            "under 'state_dict' or 'model')."
        )
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}  # DataParallel
    return state


_STATE_KEYS = ("state_dict", "model")


def _brief(keys: list[str]) -> str:
    more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
    return ", ".join(keys[:3]) + more


def _load_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing {_brief(missing)}")
    if unexpected:
        problems.append(f"unexpected {_brief(unexpected)}")
    if shapes:
        problems.append(f"wrong shape {_brief(shapes)}")
    if problems:
        raise ModelLoadError(
            f"the weights in {path.name} do not fit the factory's model ("
            + "; ".join(problems)
            + "): check that the factory builds the architecture they were trained with."
        )
    model.load_state_dict(state, strict=True)


def to_eval(model: Any, device: torch.device) -> Any:
    """``model`` on ``device`` in eval mode (modules only; exported programs as they are).

    Examples
    --------
    >>> m = torch.nn.Dropout().train()
    >>> to_eval(m, torch.device("cpu")).training
    False
    """
    if isinstance(model, torch.nn.Module):
        model = model.to(device)
        try:
            model.eval()
        except (NotImplementedError, RuntimeError):  # some exported modules refuse
            pass
    return model


def load_model(
    source: str | Path,
    *,
    factory: str | Callable[[], Any] | None = None,
    device: str | torch.device = "cpu",
    factory_option: str = FACTORY_OPTION,
) -> Any:
    """Load a model for inference, in eval mode, on ``device``.

    Parameters
    ----------
    source : str or Path
        TorchScript file, ``.pt2`` torch.export archive, or (with ``factory``)
        a checkpoint of weights.
    factory : str or callable, optional
        ``"package.module:function"`` (or the function itself) returning the
        untrained ``torch.nn.Module`` whose weights ``source`` holds.
    device : str or torch.device
        ``"cpu"``, ``"cuda"``, ``"mps"`` or ``"auto"`` (see :func:`select_device`).
    factory_option : str
        How the caller's user gives a factory, for the sentence about a
        checkpoint given without one: ``segreview predict`` passes
        ``"add --factory package.module:function"``, the Predict panel
        ``"fill in Factory with package.module:function"``.

    Returns
    -------
    torch.nn.Module or callable

    Raises
    ------
    ModelLoadError
        Missing file, unreadable format, a checkpoint without a factory, a
        factory that does not import, weights that do not fit.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "weights.pt"
    >>> torch.save({"state_dict": torch.nn.Conv2d(1, 2, 1).state_dict()}, path)
    >>> model = load_model(path, factory=lambda: torch.nn.Conv2d(1, 2, 1))
    >>> model.training, model(torch.zeros(1, 1, 4, 4)).shape
    (False, torch.Size([1, 2, 4, 4]))
    """
    path = Path(source)
    if not path.exists():
        raise ModelLoadError(f"the model file {path} does not exist.")
    if path.is_dir():
        raise ModelLoadError(f"{path} is a folder: choose the model file inside it.")
    dev = select_device(device)
    kind = _sniff(path)
    if factory is not None:
        if kind in ("torchscript", "export"):
            raise ModelLoadError(
                f"{path.name} is a complete {kind} model, which needs no factory: leave the "
                "factory out."
            )
        if kind == "unknown" and not zipfile.is_zipfile(path):
            raise ModelLoadError(_not_a_model(path))
        build = _import_factory(factory)
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ModelLoadError(
                f"{path.name} is not a plain checkpoint that torch.load(weights_only=True) can "
                f"read ({first_line(exc, 120)}): save model.state_dict() instead."
            ) from exc
        state = _extract_state_dict(obj, path)
        try:
            model = build()
        except Exception as exc:
            raise ModelLoadError(f"the factory {factory!r} failed: {exc}") from exc
        if not isinstance(model, torch.nn.Module):
            raise ModelLoadError(
                f"the factory {factory!r} returned a {type(model).__name__}, not a "
                "torch.nn.Module."
            )
        _load_weights(model, state, path)
        return to_eval(model, dev)
    if kind == "unknown" and not zipfile.is_zipfile(path):
        raise ModelLoadError(_not_a_model(path))
    if kind == "pickle":
        raise ModelLoadError(
            f"{path.name} holds weights or a pickled model, not TorchScript or torch.export: "
            f"{factory_option}, naming the function that builds the model, or save the model "
            "with torch.jit.script(model).save() or torch.export.save()."
        )
    if kind == "export" or (kind == "unknown" and path.suffix == ".pt2"):
        try:
            model = torch.export.load(path).module()
        except Exception as exc:
            raise ModelLoadError(
                f"{path.name} cannot be read as a torch.export archive "
                f"({first_line(exc, 120)}): save it with torch.export.save()."
            ) from exc
        return to_eval(model, dev)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch>=2.10 deprecates jit
            model = torch.jit.load(str(path), map_location=dev)
    except Exception as exc:
        if kind == "unknown":  # a zip file, but not one torch wrote
            raise ModelLoadError(_not_a_model(path)) from exc
        raise ModelLoadError(
            f"{path.name} is a TorchScript file that this torch {torch.__version__} cannot "
            f"load ({first_line(exc, 120)}): save it again with this version's "
            "torch.jit.script(model).save()."
        ) from exc
    return to_eval(model, dev)


def _not_a_model(path: Path) -> str:
    return (f"{path.name} is not a TorchScript, torch.export or checkpoint file, so not a model "
            "file: choose the file saved with torch.jit.save (.pt), torch.export.save (.pt2), "
            "or torch.save(model.state_dict()) together with a factory.")


def find_devices() -> dict[str, tuple[bool, str]]:
    """Whether each device (``auto``, ``cpu``, ``cuda``, ``mps``) can run here, with a label.

    The label says what was found: the GPU's name, or why there is none.

    Examples
    --------
    >>> found = find_devices()
    >>> found["cpu"], found["auto"][0]
    ((True, 'cpu'), True)
    """
    out = {"cpu": (True, "cpu")}
    if torch.cuda.is_available():
        n = torch.cuda.device_count()
        gpus = f", {n} GPUs" if n > 1 else ""
        out["cuda"] = (True, f"cuda ({torch.cuda.get_device_name(0)}{gpus})")
    else:
        out["cuda"] = (False, "cuda (no CUDA GPU found)")
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps is not None and mps.is_available())
    out["mps"] = (has_mps, "mps (Apple GPU)" if has_mps else "mps (not found)")
    best = "cuda" if out["cuda"][0] else "mps" if has_mps else "cpu"
    out["auto"] = (True, f"auto: {out[best][1]}")
    return out


def _available() -> list[str]:
    found = ["cpu"]
    if torch.cuda.is_available():
        found.insert(0, f"cuda ({torch.cuda.device_count()} GPU)")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.insert(0, "mps")
    return found


def select_device(device: str | torch.device = "auto") -> torch.device:
    """The torch device to run on: ``"auto"`` picks CUDA, then MPS, then the CPU.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.

    Raises
    ------
    ModelLoadError
        When the device asked for is not there (the message lists what is).

    Examples
    --------
    >>> select_device("cpu")
    device(type='cpu')
    >>> select_device("auto").type in ("cuda", "mps", "cpu")
    True
    """
    if isinstance(device, str) and device.strip().lower() == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ModelLoadError(
            f"{device!r} is not a device: use 'auto', 'cpu', 'cuda' or 'mps'."
        ) from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ModelLoadError(
                f"CUDA was asked for but this torch {torch.__version__} finds no CUDA GPU "
                f"(available: {', '.join(_available())}): choose 'auto' or 'cpu'."
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ModelLoadError(
                f"{dev} was asked for but only {torch.cuda.device_count()} CUDA GPU(s) exist."
            )
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ModelLoadError(
                f"MPS was asked for but is not available (available: {', '.join(_available())})."
            )
    elif dev.type != "cpu":
        raise ModelLoadError(f"the device {dev} is not supported: use 'auto', 'cpu' or 'cuda'.")
    return dev


def select_output(raw: Any, spec: Any) -> torch.Tensor:
    """The logits tensor in whatever a model's forward returned.

    Parameters
    ----------
    raw : tensor, tuple, list or dict
        The model's output.
    spec : InputSpec
        The card's input section: ``output_key`` picks a dict entry,
        ``output_index`` (default 0) a tuple/list entry. A dict without an
        ``output_key`` gives its ``"out"`` entry, or its only tensor.

    Raises
    ------
    ModelLoadError
        When the output cannot be found (the message lists what there is).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> spec = SimpleNamespace(output_key=None, output_index=None)
    >>> select_output({"out": torch.zeros(1, 2), "aux": torch.ones(1, 2)}, spec).sum().item()
    0.0
    >>> select_output((torch.ones(3), torch.zeros(1)), spec).shape
    torch.Size([3])
    """
    key = getattr(spec, "output_key", None)
    index = getattr(spec, "output_index", None)
    if isinstance(raw, torch.Tensor):
        return raw
    if isinstance(raw, Mapping):
        keys = [str(k) for k in raw]
        if key is not None:
            if key not in raw:
                raise ModelLoadError(
                    f"the model returns a dict with keys {keys}, without the card's "
                    f"output_key {key!r}: set input.output_key to one of them."
                )
            out = raw[key]
        elif "out" in raw:
            out = raw["out"]
        else:
            tensors = [v for v in raw.values() if isinstance(v, torch.Tensor)]
            if len(tensors) != 1:
                raise ModelLoadError(
                    f"the model returns a dict with keys {keys}: set input.output_key in the "
                    "card to the one that holds the segmentation logits."
                )
            out = tensors[0]
        where = f"the dict entry {key or 'out'!r}"
    elif isinstance(raw, (tuple, list)):
        i = 0 if index is None else index
        if not -len(raw) <= i < len(raw):
            raise ModelLoadError(
                f"the model returns {len(raw)} outputs, so input.output_index {i} does not "
                "exist: choose an index below that."
            )
        out = raw[i]
        where = f"output {i}"
    else:
        raise ModelLoadError(
            f"the model returns a {type(raw).__name__}, not a tensor, tuple or dict of tensors."
        )
    if not isinstance(out, torch.Tensor):
        raise ModelLoadError(
            f"{where} of the model is a {type(out).__name__}, not a tensor: set "
            "input.output_key or input.output_index to the segmentation logits."
        )
    return out
