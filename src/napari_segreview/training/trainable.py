"""The base model as something to train: loaded by ``load_model``, its format, what trains.

Four formats (what :func:`napari_segreview.inference.models.load_model` reads):

* ``factory``: a factory and a state dict, trained eagerly; saved as a state dict.
* ``torchscript`` (scripted): trains directly, dropout and batch-norm included.
* ``traced`` (TorchScript from ``torch.jit.trace``): the weights train, but
  dropout and batch-norm stay as they were traced (a warning says so).
* ``export`` (``torch.export`` program): the same as traced, and a program
  exported at a fixed size trains at that size.

A traced model is told from a scripted one by its graph: batch-norm or
dropout calls with no read of ``training`` (a traced graph holds the mode as
a constant). Without such layers the two behave the same.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from napari_segreview.errors import FormatError
from napari_segreview.inference.exported import input_shape
from napari_segreview.inference.models import load_model

__all__ = ["FROZEN_LAYERS_WARNING", "Trainable", "load_trainable", "set_mode"]

FROZEN_LAYERS_WARNING = (
    "the base model is a {what}: its weights train, but dropout and batch-norm stay as they "
    "were exported (no dropout, frozen running statistics); give its factory and a state dict "
    "(--factory) to train those layers too.")

_MODE_OPS = ("aten::batch_norm", "aten::dropout", "aten::feature_dropout", "aten::instance_norm",
             "aten::alpha_dropout")


@dataclass
class Trainable:
    """A loaded model ready to train.

    Attributes
    ----------
    module : torch.nn.Module
    format : {"factory", "torchscript", "traced", "export"}
    source : Path
        The base model file.
    factory : str or callable or None
    params : list of torch.nn.Parameter
        What the optimiser updates (the frozen ones left out).
    frozen : int
        Number of parameters frozen by name prefix.
    program_shape : tuple or None
        A ``torch.export`` program's input shape (None where a size is free).
    warnings : list of str
    """

    module: Any
    format: str
    source: Path
    factory: str | Callable | None
    params: list = field(default_factory=list)
    frozen: int = 0
    program_shape: tuple | None = None
    warnings: list[str] = field(default_factory=list)


def _is_traced(module: Any) -> bool:
    try:
        graph = str(module.inlined_graph)
    except (AttributeError, RuntimeError):
        return False
    return any(op in graph for op in _MODE_OPS) and 'name="training"' not in graph


def set_mode(module: Any, train: bool) -> None:
    """Put ``module`` in train or eval mode where it allows it (exported programs refuse).

    Examples
    --------
    >>> m = torch.nn.Dropout()
    >>> set_mode(m, False); m.training
    False
    """
    try:
        module.train(train)
    except (NotImplementedError, RuntimeError):
        pass


def _select(module: Any, freeze: Sequence[str]) -> tuple[list, int]:
    named = list(module.named_parameters())
    if not named:
        raise FormatError("the model has no parameters to train (it holds no weights); choose "
                          "a model file with weights.")
    for prefix in freeze:
        if not any(n.startswith(prefix) for n, _ in named):
            tops = sorted({n.split(".")[0] + "." for n, _ in named})
            raise FormatError(f"no parameter name starts with {prefix!r}, so --freeze would "
                              f"freeze nothing; the parameter names start with "
                              f"{', '.join(tops[:8])}.")
    keep, frozen = [], 0
    for name, p in named:
        if any(name.startswith(prefix) for prefix in freeze):
            p.requires_grad_(False)
            frozen += 1
        elif p.requires_grad or p.dtype.is_floating_point:
            p.requires_grad_(True)
            keep.append(p)
    if not keep:
        what = "every parameter is frozen" if frozen else "no parameter can take a gradient"
        raise FormatError(f"the model has no trainable parameters ({what}); freeze fewer "
                          "parameters (--freeze) or choose a model with float weights.")
    return keep, frozen


def load_trainable(path: str | os.PathLike, *, factory: str | Callable | None = None,
                   device: Any = "cpu", freeze: Sequence[str] = ()) -> Trainable:
    """Load the base model for training, on ``device``, in train mode.

    Parameters
    ----------
    path : path
        The base model file (TorchScript, ``.pt2`` program, or a state dict with ``factory``).
    factory : str or callable, optional
    device : str or torch.device
    freeze : sequence of str
        Parameter-name prefixes to freeze (e.g. ``"encoder."``).

    Raises
    ------
    ModelLoadError
        The model does not load (see :func:`~napari_segreview.inference.models.load_model`).
    FormatError
        No trainable parameters, or a ``freeze`` prefix that matches nothing.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "w.pt"
    >>> torch.save(torch.nn.Conv2d(1, 2, 1).state_dict(), p)
    >>> t = load_trainable(p, factory=lambda: torch.nn.Conv2d(1, 2, 1), freeze=["bias"])
    >>> t.format, len(t.params), t.frozen, t.module.training
    ('factory', 1, 1, True)
    """
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = load_model(path, factory=factory, device=device,
                            factory_option="add --factory package.module:function")
    if factory is not None:
        fmt = "factory"
    elif isinstance(module, torch.fx.GraphModule):
        fmt = "export"
    elif _is_traced(module):
        fmt = "traced"
    else:
        fmt = "torchscript"
    t = Trainable(module, fmt, path, factory, program_shape=input_shape(module))
    if fmt in ("traced", "export"):
        what = "traced TorchScript model" if fmt == "traced" else "torch.export program"
        t.warnings.append(FROZEN_LAYERS_WARNING.format(what=what))
    t.params, t.frozen = _select(module, freeze)
    set_mode(module, True)
    return t
