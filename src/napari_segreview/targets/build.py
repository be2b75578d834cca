"""Training targets: what a training loop's loss takes, built per head of a model card.

* a **softmax** head gets an integer label map, no channel axis (the target of
  ``CrossEntropyLoss``), uint8 (uint16 beyond 255 classes), where 255 means
  *ignore* (unlabelled or uncertain voxels, and optionally voxels outside the
  head's ``within`` parent), for ``CrossEntropyLoss(ignore_index=255)``;
* a **sigmoid** head gets a multi-hot stack ``(C, [Z,] Y, X)`` uint8 (the
  target of ``BCEWithLogitsLoss``): channels may overlap, it is never one-hot;
* a card with both (the five-output "whole + parts" head) gets both, aligned
  on the same voxel grid.

Class masks painted into a label map (and the background-mask check) live in
:mod:`napari_segreview.targets.masks` and are re-exported here. An
:class:`ExportCase` bundles one image with its targets; writing and reading
export folders lives in :mod:`napari_segreview.targets.export`, the nnU-Net
dataset in :mod:`napari_segreview.targets.nnunet`, and the class statistics in
:mod:`napari_segreview.targets.classstats`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from napari_segreview._util.arrays import as_numpy, blocks, label_dtype
from napari_segreview.card.intensity import normalize
from napari_segreview.card.spec import HeadSpec, InputSpec, ModelCard
from napari_segreview.errors import FormatError
from napari_segreview.labels.checks import check_binary, check_label_values, check_shapes
from napari_segreview.labels.formats import IGNORE
from napari_segreview.targets.choices import IMAGE_MODES
from napari_segreview.targets.masks import (
    BACKGROUND_NAMES,
    check_class_masks,
    overlap_sentence,
    softmax_from_masks,
)

__all__ = [
    "BACKGROUND_NAMES",
    "IMAGE_MODES",
    "RESERVED_NAMES",
    "SIGMOID_HEAD",
    "SOFTMAX_HEAD",
    "ExportCase",
    "Target",
    "build_targets",
    "card_from_choices",
    "check_class_masks",
    "image_spatial_shape",
    "model_input_image",
    "overlap_sentence",
    "safe_name",
    "sigmoid_target",
    "softmax_from_masks",
    "softmax_target",
]

#: The heads of a :func:`card_from_choices` card: the sigmoid one, the softmax one.
SIGMOID_HEAD, SOFTMAX_HEAD = "channels", "classes"
#: File stems an export uses itself; no head or case may take them.
RESERVED_NAMES = ("image", "manifest", "statistics", "segreview-export", "dataset",
                  "imagesTr", "labelsTr", "manifests")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: Any, what: str = "name") -> str:
    """A file-name-safe version of ``name``: letters, digits, ``.``, ``_`` and ``-`` only.

    Runs of other characters (spaces, slashes, ``:``) become one ``_``; a name
    that is empty afterwards, or that would climb out of the export folder
    (``..``), or that is hidden (leading ``.``), is refused.

    Raises
    ------
    FormatError
        If nothing usable is left of the name.

    Examples
    --------
    >>> safe_name("CT phantom (ground truth)")
    'CT_phantom_ground_truth'
    >>> safe_name("../../etc/passwd", "case name")
    Traceback (most recent call last):
    ...
    napari_segreview.errors.FormatError: the case name '../../etc/passwd' would \
climb out of the export folder; use letters, digits, '_', '-' and '.' only.
    """
    text = str(name).strip()
    if ".." in text.replace("\\", "/").split("/") or text.startswith(("/", "\\", "..")):
        raise FormatError(f"the {what} {text!r} would climb out of the export folder; use "
                          "letters, digits, '_', '-' and '.' only.")
    out = _UNSAFE.sub("_", text).strip("_")
    if not out or out.startswith(".") or set(out) <= {".", "_", "-"}:
        raise FormatError(f"the {what} {text!r} has no letters or digits left for a file "
                          "name; give it a name such as case_001.")
    return out


@dataclass(frozen=True, eq=False)
class Target:
    """The training target of one head.

    Attributes
    ----------
    head : str
        The head's name (also the target file's stem).
    kind : {"softmax", "sigmoid"}
        Which loss it is for (CrossEntropyLoss or BCEWithLogitsLoss).
    channels : tuple of str
        Softmax: class names, value ``i`` is ``channels[i]``; sigmoid: the
        channel names, one per entry of the stack's first axis.
    data : ndarray
        Softmax: label map, shape of the image's spatial axes, 255 = ignore;
        sigmoid: uint8 multi-hot stack ``(C, *spatial)``.
    within : str or None
        The parent head of a softmax head, as in the card.
    """

    head: str
    kind: str
    channels: tuple[str, ...]
    data: np.ndarray
    within: str | None = None

    @property
    def encoding(self) -> str:
        """``"labels"`` (softmax) or ``"multihot"`` (sigmoid), as in array-file metadata."""
        return "labels" if self.kind == "softmax" else "multihot"

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """Shape of the voxel grid (the channel axis left out)."""
        return tuple(self.data.shape[1:] if self.kind == "sigmoid" else self.data.shape)

    @property
    def ignore_value(self) -> int | None:
        """255 for a softmax target (``CrossEntropyLoss(ignore_index=255)``), else None."""
        return IGNORE if self.kind == "softmax" else None


def image_spatial_shape(image: np.ndarray, input_spec: InputSpec | None = None) -> tuple:
    """Spatial shape of an image: channel-last colour images lose their last axis.

    Examples
    --------
    >>> image_spatial_shape(np.zeros((4, 8, 8)))
    (4, 8, 8)
    >>> image_spatial_shape(np.zeros((8, 8, 3)), InputSpec(channels=3))
    (8, 8)
    """
    shape = tuple(int(s) for s in np.shape(image))
    if input_spec is not None and input_spec.channels > 1:
        if not shape or shape[-1] != input_spec.channels:
            raise FormatError(f"the image has shape {shape}, but the card's input has "
                              f"{input_spec.channels} channels, which must be its last axis.")
        return shape[:-1]
    return shape


def model_input_image(image: np.ndarray, card: ModelCard | None, mode: str = "raw") -> np.ndarray:
    """The image as stored in an export: ``raw`` as loaded, or ``normalized`` as the model saw it.

    Examples
    --------
    >>> card = ModelCard.from_dict({"heads": [{"name": "fg", "kind": "sigmoid",
    ...     "channels": ["fg"]}], "input": {"normalize": {"kind": "window", "center": 0,
    ...     "width": 2}}})
    >>> model_input_image(np.array([-1, 0, 5], np.int16), card, "normalized")
    array([0. , 0.5, 1. ], dtype=float32)
    """
    if mode not in IMAGE_MODES:
        raise FormatError(f"the image mode must be 'raw' or 'normalized', not {mode!r}.")
    image = np.asarray(image)
    if mode == "raw":
        return image
    if card is None:
        raise FormatError("a normalised image needs a model card (its input.normalize); "
                          "export the raw image or choose a card.")
    axis = -1 if card.input.channels > 1 else None
    return normalize(image, card.input.normalize, channel_axis=axis)


def _spatial_check(spatial: tuple, data: np.ndarray, channels: bool, what: str) -> None:
    report = check_shapes(spatial, data, channels=channels)
    if not report.ok:
        raise FormatError(f"{what}: {report.findings[0].message} Give masks made on this "
                          "image (same slices, rows and columns); nothing was written.")


def softmax_target(head: HeadSpec, labels: Any, *, ignore: Any = None, parent: Any = None,
                   ignore_outside_parent: bool = False) -> Target:
    """A softmax head's target: the label map, with 255 where the loss must ignore voxels.

    Parameters
    ----------
    head : HeadSpec
        A softmax head; its channels are the class names (0 = background).
    labels : integer array, shape ([Z,] Y, X)
        Class index per voxel; 255 is kept as *ignore*.
    ignore : bool array, optional
        Voxels marked unlabelled or uncertain: set to 255.
    parent : bool array, optional
        The ``within`` parent's mask; with ``ignore_outside_parent`` every
        voxel outside it is set to 255.
    ignore_outside_parent : bool
        Ignore (255) the voxels outside the parent instead of training them as
        background.

    Raises
    ------
    FormatError
        On a one-hot stack instead of a label map, or label values that are no
        class of the head.

    Examples
    --------
    >>> head = HeadSpec("parts", "softmax", ("background", "a", "b"))
    >>> t = softmax_target(head, np.array([[0, 1, 2, 1]]), ignore=np.array([[0, 0, 0, 1]]))
    >>> t.data, t.encoding
    (array([[  0,   1,   2, 255]], dtype=uint8), 'labels')
    """
    if head.kind != "softmax":
        raise FormatError(f"head {head.name!r} is a {head.kind} head, not a softmax head.")
    arr, _ = as_numpy(labels)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise FormatError(f"the target of softmax head {head.name!r} must be an integer label "
                          f"map, not {arr.dtype} data: decide probabilities first.")
    n = len(head.channels)
    report = check_label_values(arr, n, ignore_value=IGNORE)
    if not report.ok:
        raise FormatError(f"softmax head {head.name!r} has the classes {', '.join(head.channels)} "
                          f"(0..{n - 1}), but {report.findings[0].message[0].lower()}"
                          f"{report.findings[0].message[1:-1]}; relabel those voxels or "
                          "mark them 255 (ignore).")
    out = np.empty(arr.shape, label_dtype(max(n - 1, IGNORE)))
    flat_in, flat_out = arr.reshape(-1), out.reshape(-1)
    marks = []  # (flat bool mask, invert): voxels that become 255
    if ignore is not None:
        marks.append((_mask(ignore, arr.shape, f"the ignore mask of head {head.name!r}"), False))
    if ignore_outside_parent:
        if parent is None:
            raise FormatError(f"ignoring voxels outside the parent needs the parent of head "
                              f"{head.name!r}; give its mask or leave the option off.")
        marks.append((_mask(parent, arr.shape, f"the parent of head {head.name!r}"), True))
    for s in blocks(flat_out.size):
        seg = flat_out[s]
        seg[...] = flat_in[s]
        for m, invert in marks:
            seg[~m[s] if invert else m[s]] = IGNORE
    return Target(head.name, "softmax", tuple(head.channels), out, head.within)


def _mask(mask: Any, shape: tuple, what: str) -> np.ndarray:
    arr, _ = as_numpy(mask)
    _spatial_check(shape, arr, False, what)
    return np.ascontiguousarray(arr).reshape(-1) != 0


def sigmoid_target(head: HeadSpec, masks: Any) -> Target:
    """A sigmoid head's target: its binary channels as one uint8 multi-hot stack.

    Parameters
    ----------
    head : HeadSpec
        A sigmoid head.
    masks : array (C, [Z,] Y, X) or sequence of C binary masks
        One mask per channel of the head, values 0/1 (bool is fine).

    Examples
    --------
    >>> head = HeadSpec("regions", "sigmoid", ("whole", "core"))
    >>> sigmoid_target(head, [np.array([1, 1, 0]), np.array([0, 1, 0])]).data
    array([[1, 1, 0],
           [0, 1, 0]], dtype=uint8)
    """
    if head.kind != "sigmoid":
        raise FormatError(f"head {head.name!r} is a {head.kind} head, not a sigmoid head.")
    stack = (np.stack([as_numpy(m)[0] for m in masks]) if isinstance(masks, (list, tuple))
             else as_numpy(masks)[0])
    if stack.ndim < 2 or stack.shape[0] != len(head.channels):
        raise FormatError(f"sigmoid head {head.name!r} has {len(head.channels)} channels "
                          f"({', '.join(head.channels)}), but the masks have shape "
                          f"{stack.shape}; give one binary mask per channel, channel axis first.")
    report = check_binary(stack, head.channels)
    if not report.ok:
        raise FormatError(f"{report.findings[0].message[:-1]}; a sigmoid channel is a binary "
                          "mask: paint it with label 1 only, or pick another layer.")
    out = np.ascontiguousarray(stack, dtype=np.uint8)
    return Target(head.name, "sigmoid", tuple(head.channels), out)


def build_targets(card: ModelCard, inputs: Mapping[str, Any], spatial_shape: Sequence[int], *,
                  ignore: Any = None, ignore_outside_parent: bool = False) -> list[Target]:
    """Targets for every head of ``card`` found in ``inputs``, checked against the image.

    Parameters
    ----------
    card : ModelCard
        What each head is (see :func:`card_from_choices` when there is none).
    inputs : mapping head name -> array
        Softmax heads: label map; sigmoid heads: ``(C, *spatial)`` stack.
        Heads left out are not exported (at least one is needed).
    spatial_shape : sequence of int
        The image's spatial shape; every target must match it.
    ignore : bool array, optional
        Unlabelled/uncertain voxels: 255 in every softmax target.
    ignore_outside_parent : bool
        For softmax heads with ``within``: 255 outside the parent's mask (the
        parent head must be among the inputs).

    Raises
    ------
    FormatError
        One sentence on a shape that does not match the image, an unknown
        head, a one-hot stack for a softmax head, or a missing parent.

    Examples
    --------
    >>> card = ModelCard.from_dict({"heads": [
    ...     {"name": "whole", "kind": "sigmoid", "channels": ["whole"]},
    ...     {"name": "parts", "kind": "softmax", "within": "whole",
    ...      "channels": ["background", "a", "b"]}]})
    >>> whole = np.array([[[0, 1, 1, 1]]])
    >>> parts = np.array([[0, 1, 2, 0]])
    >>> ts = build_targets(card, {"whole": whole, "parts": parts}, (1, 4),
    ...                    ignore_outside_parent=True)
    >>> [(t.head, t.data.tolist()) for t in ts]
    [('whole', [[[0, 1, 1, 1]]]), ('parts', [[255, 1, 2, 0]])]
    """
    spatial = tuple(int(s) for s in spatial_shape)
    heads = {h.name: h for h in card.heads}
    unknown = [k for k in inputs if k not in heads]
    if unknown:
        raise FormatError(f"the card has no head {unknown[0]!r}; its heads are "
                          f"{', '.join(heads)}.")
    if not inputs:
        raise FormatError("choose at least one head (or layer) to export.")
    out: list[Target] = []
    made: dict[str, Target] = {}
    for head in card.heads:  # card order: parents (sigmoid) come before their children
        if head.name not in inputs:
            continue
        data = as_numpy(inputs[head.name])[0]
        what = f"the target of head {head.name!r}"
        if head.kind == "sigmoid":
            if data.shape == spatial and len(head.channels) == 1:
                data = data[None]
            _spatial_check(spatial, data, True, what)
            t = sigmoid_target(head, data)
        else:
            if data.ndim == len(spatial) + 1 and tuple(data.shape[1:]) == spatial:
                raise FormatError(f"{what} is a channel stack {data.shape}; CrossEntropyLoss "
                                  "takes the integer label map, no channel axis: convert "
                                  "the one-hot stack to labels first (`segreview convert "
                                  "--to labels`: its background channel becomes 0).")
            _spatial_check(spatial, data, False, what)
            parent = None
            if ignore_outside_parent and head.within is not None:
                if head.within not in made:
                    raise FormatError(f"ignoring voxels outside the parent of {head.name!r} "
                                      f"needs its parent head {head.within!r} in the export.")
                parent = made[head.within].data[0]
            t = softmax_target(head, data, ignore=ignore, parent=parent,
                               ignore_outside_parent=parent is not None)
        made[head.name] = t
        out.append(t)
    return out


def card_from_choices(sigmoid: Sequence[str] = (), softmax: Sequence[str] = (), *,
                      sigmoid_head: str = SIGMOID_HEAD, softmax_head: str = SOFTMAX_HEAD,
                      background: str = "background", within: str | None = None,
                      name: str = "by-hand") -> ModelCard:
    """A card for masks with no model card: the user says which form each target.

    Parameters
    ----------
    sigmoid : sequence of str
        Channel names of one sigmoid (multi-hot) head.
    softmax : sequence of str
        Class names (background left out) of one softmax (integer) head.
    sigmoid_head, softmax_head : str
        The heads' names (the target files' stems).
    within : str, optional
        A one-channel sigmoid head that contains the softmax classes.

    Examples
    --------
    >>> c = card_from_choices(["whole"], ["part_1", "part_2"], within="channels")
    >>> [(h.name, h.kind, h.channels) for h in c.heads]
    [('channels', 'sigmoid', ('whole',)), ('classes', 'softmax', ('background', 'part_1', \
'part_2'))]
    """
    heads = []
    if sigmoid:
        heads.append({"name": sigmoid_head, "kind": "sigmoid", "channels": list(sigmoid)})
    if softmax:
        h: dict[str, Any] = {"name": softmax_head, "kind": "softmax",
                             "channels": [background, *softmax]}
        if within is not None:
            h["within"] = within
        heads.append(h)
    if not heads:
        raise FormatError("choose at least one mask for a sigmoid or a softmax target.")
    return ModelCard.from_dict({"name": name, "heads": heads})


@dataclass(eq=False)
class ExportCase:
    """One image and its targets, ready to be written.

    Attributes
    ----------
    name : str
        The case name (made file-safe with :func:`safe_name` when written).
    image : ndarray
        The image as loaded (raw); see ``image_mode``.
    targets : list of Target
        One per exported head, all on the image's voxel grid.
    card : ModelCard
        The card the targets follow (a :func:`card_from_choices` card if none).
    spacing : tuple of float, optional
        Voxel size along the spatial axes.
    source : str, optional
        Where the image came from (a file path or a layer name).
    image_mode : {"raw", "normalized"}
        Store the image as loaded or normalised as the model saw it.
    layers : list of dict
        How to rebuild napari layers on import (names, scale, metadata, dtype);
        plain JSON, written into the manifest as is.
    """

    name: str
    image: np.ndarray
    targets: list[Target]
    card: ModelCard
    spacing: tuple[float, ...] | None = None
    source: str | None = None
    image_mode: str = "raw"
    layers: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.image = np.asarray(self.image)
        if self.image_mode not in IMAGE_MODES:
            raise FormatError(f"the image mode must be 'raw' or 'normalized', not "
                              f"{self.image_mode!r}.")
        spatial = image_spatial_shape(self.image, self.card.input)
        if not self.targets:
            raise FormatError("the case has no targets; choose at least one head to export.")
        for t in self.targets:
            if t.spatial_shape != spatial:
                raise FormatError(f"the target of head {t.head!r} has the voxel grid "
                                  f"{t.spatial_shape} but the image {spatial}; give masks made "
                                  "on this image; nothing was written.")
        if self.spacing is not None:
            self.spacing = tuple(float(s) for s in self.spacing)
            if len(self.spacing) != len(spatial):
                raise FormatError(f"the spacing {self.spacing} has {len(self.spacing)} values "
                                  f"but the image has {len(spatial)} spatial axes.")
        heads = [safe_name(t.head, "head name") for t in self.targets]
        for h in heads:
            if h in RESERVED_NAMES:
                raise FormatError(f"a head may not be called {h!r}: the export uses that "
                                  "name itself; rename the head.")
        if len(set(heads)) != len(heads):
            raise FormatError(f"the heads {', '.join(t.head for t in self.targets)} give clashing "
                              "file names; rename one of them.")

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """The voxel grid shared by the image and every target."""
        return image_spatial_shape(self.image, self.card.input)

    def stored_image(self) -> np.ndarray:
        """The image as it will be written (see :func:`model_input_image`)."""
        return model_input_image(self.image, self.card, self.image_mode)
