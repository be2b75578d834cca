"""What a ``torch.export`` program says about its input, and the tile and batch it needs.

A program exported with ``torch.export.export`` at a fixed size only runs on
inputs of exactly that size (any other fails a guard, ``Guard failed:
x.size()[0] == 1``). Its graph knows the size: the input placeholder's
``meta["val"]`` holds a fake tensor whose dimensions are numbers where the
size was fixed and symbols where it was exported as dynamic
(``torch.export.Dim``). :func:`input_shape` reads it, and :func:`program_plan`
turns it into the tile and the batch :func:`~napari_segreview.inference.predict.predict`
runs with, or one sentence saying which card field does not fit.
"""

from __future__ import annotations

from typing import Any

import torch

from napari_segreview.errors import ModelLoadError

__all__ = ["input_shape", "program_plan"]


def input_shape(model: Any) -> tuple[int | None, ...] | None:
    """The shape a ``torch.export`` program takes, None where a size is dynamic.

    Parameters
    ----------
    model : callable
        ``torch.export.load(path).module()`` (what ``load_model`` gives for a
        ``.pt2`` file), or any model.

    Returns
    -------
    tuple or None
        ``(N, C, *spatial)`` with an int for every fixed size and None for a
        dynamic one; None for a model that does not record its input
        (TorchScript, an ``nn.Module``, a function).

    Examples
    --------
    >>> net = torch.nn.Conv2d(1, 2, 3, padding=1)
    >>> program = torch.export.export(net, (torch.zeros(1, 1, 16, 16),))
    >>> input_shape(program.module())
    (1, 1, 16, 16)
    >>> batch = torch.export.Dim("batch")
    >>> program = torch.export.export(net, (torch.zeros(2, 1, 16, 16),),
    ...                               dynamic_shapes={"input": {0: batch}})
    >>> input_shape(program.module())
    (None, 1, 16, 16)
    >>> input_shape(net) is None
    True
    """
    if not isinstance(model, torch.fx.GraphModule):
        return None
    for node in model.graph.nodes:
        if node.op == "placeholder":
            shape = getattr(node.meta.get("val"), "shape", None)
            if shape is None:
                return None
            return tuple(d if isinstance(d, int) else None for d in shape)
    return None


def _sizes(sizes: tuple[int, ...]) -> str:
    return " x ".join(map(str, sizes))


def program_plan(shape: tuple[int | None, ...] | None, card: Any,
                 image_shape: tuple[int, ...]) -> tuple[tuple[int, ...] | None, int | None]:
    """The tile and the batch a program of input ``shape`` runs with on an image.

    Parameters
    ----------
    shape : tuple or None
        :func:`input_shape` of the model (None: nothing is fixed).
    card : ModelCard
    image_shape : tuple of int
        The spatial size one tile may cover at most: ``(Y, X)`` of a slice for
        a 2-D card, ``(Z, Y, X)`` for a 3-D card.

    Returns
    -------
    tile : tuple of int or None
        The card's ``input.tile`` where the program fixes no size (None: no
        tile given, the whole slice or volume); otherwise the program's sizes,
        with the card's tile (or the image's size) on the dynamic axes.
    batch : int or None
        The fixed batch size, or None when any batch size runs.

    Raises
    ------
    ModelLoadError
        When the card's ``spatial_dims``, ``channels`` or ``tile`` differs from
        what the program was exported for: the sentence names the value to write.

    Examples
    --------
    >>> from napari_segreview.card.spec import ModelCard
    >>> card = ModelCard.from_dict({"heads": [{"name": "fg", "kind": "sigmoid",
    ...                                        "channels": ["fg"]}]})
    >>> program_plan((1, 1, 32, 32), card, (100, 80))
    ((32, 32), 1)
    >>> program_plan((None, 1, None, None), card, (100, 80))
    (None, None)
    >>> program_plan((1, 3, 32, 32), card, (100, 80))
    Traceback (most recent call last):
    ...
    napari_segreview.errors.ModelLoadError: the torch.export program takes 3 input channels \
(it was exported for inputs of 1 x 3 x 32 x 32) but the card's input.channels is 1: set \
input.channels: 3, or choose the card made for this model.
    """
    tile = card.input.tile
    if shape is None:
        return tile, None
    inp = card.input
    fixed = " x ".join("?" if d is None else str(d) for d in shape)
    exported = f"it was exported for inputs of {fixed}"
    if len(shape) != inp.spatial_dims + 2:
        dims = len(shape) - 2
        raise ModelLoadError(
            f"the torch.export program takes {dims}-D inputs ({exported}) but the card's "
            f"input.spatial_dims is {inp.spatial_dims}: set input.spatial_dims: {dims}, or "
            "choose the card made for this model."
        )
    batch, channels, spatial = shape[0], shape[1], shape[2:]
    if channels is not None and channels != inp.channels:
        raise ModelLoadError(
            f"the torch.export program takes {channels} input channel{'s' * (channels > 1)} "
            f"({exported}) but the "
            f"card's input.channels is {inp.channels}: set input.channels: {channels}, or "
            "choose the card made for this model."
        )
    if all(s is None for s in spatial):
        return tile, batch
    if tile is not None and any(s is not None and s != t
                                for s, t in zip(spatial, tile, strict=True)):
        need = [t if s is None else s for s, t in zip(spatial, tile, strict=True)]
        raise ModelLoadError(
            f"the torch.export program takes tiles of exactly {_sizes(need)} ({exported}) but "
            f"the card's input.tile is {list(tile)}: set input.tile: {need}, or export the "
            "model with dynamic sizes (torch.export.Dim)."
        )
    base = tile if tile is not None else tuple(image_shape)
    return tuple(b if s is None else s for s, b in zip(spatial, base, strict=True)), batch
