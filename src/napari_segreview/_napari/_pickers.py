"""Layer pickers for the Qt panels: magicgui widgets that follow the viewer's layer list.

The panels are plain ``QWidget`` s, so napari does not keep magicgui widgets
inside them in step with the layers (it does that only for docked widgets with
a ``reset_choices``). :func:`layer_picker` makes a magicgui ``ComboBox`` (one
layer) or ``Select`` (several) whose choices come from the viewer, to be placed
in a panel through ``.native`` (a ``QComboBox`` / ``QListWidget``, which scripts
and tests may drive as before: ``setCurrentText``, ``item(i).setSelected``);
:class:`LayerSync` resets them when layers are inserted, removed, reordered or
renamed. What was chosen stays chosen while its layer is offered (a renamed
layer too), the items keep the viewer's order, and a picker emits ``changed``
only when its value really changed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any

from magicgui.widgets import ComboBox, Select, create_widget

from napari_segreview._napari._meta import meta

__all__ = ["LayerSync", "layer_picker", "layers_in_order"]


def layer_picker(viewer: Any, layer_type: type, *, exclude: Iterable[str] = (),
                 multiple: bool = False, none: str | None = None,
                 tooltip: str | None = None) -> ComboBox | Select:
    """A magicgui picker of the viewer's ``layer_type`` layers (see the module docstring).

    Parameters
    ----------
    viewer : napari.Viewer
    layer_type : type
        ``napari.layers.Image``, ``napari.layers.Labels``...
    exclude : iterable of str
        SegReview layer kinds (``metadata["segreview"]["kind"]``) not offered.
    multiple : bool
        A list to pick several layers from (``Select``) instead of a combo box.
    none : str, optional
        Combo box only: the text of a first choice that picks no layer (value ``None``).
    tooltip : str, optional
    """
    left_out = tuple(exclude)

    def choices(_widget: Any) -> list[tuple[str, Any]]:
        return [(ly.name, ly) for ly in viewer.layers
                if isinstance(ly, layer_type) and meta(ly).get("kind") not in left_out]

    options: dict[str, Any] = {"choices": (), "nullable": none is not None}
    if tooltip:
        options["tooltip"] = tooltip
    widget = create_widget(annotation=list[layer_type] if multiple else layer_type,
                           widget_type="Select" if multiple else "ComboBox", options=options)
    if none is not None:
        widget.null_string = none
    widget.choices = choices        # a callable: reset_choices calls it again
    return widget


def layers_in_order(viewer: Any, chosen: Iterable[Any]) -> list[Any]:
    """The chosen layers in the viewer's order (painting order), matched by name.

    By name because a plugin sees proxies of the layers, not the layers.

    Examples
    --------
    >>> from types import SimpleNamespace as L
    >>> viewer = L(layers=[L(name="a"), L(name="b"), L(name="c")])
    >>> [x.name for x in layers_in_order(viewer, [L(name="c"), L(name="a")])]
    ['a', 'c']
    """
    names = {ly.name for ly in chosen if ly is not None}
    return [ly for ly in viewer.layers if ly.name in names]


def _resync(picker: ComboBox | Select) -> None:
    """Reset one picker's choices, keeping its value and the viewer's order."""
    before = picker.value
    fresh = picker.options["choices"]
    with picker.changed.blocked():
        picker.reset_choices()
        wanted = [data for _, data in fresh(picker)]
        shown = [data for data in picker.choices if data is not None]
        if shown != wanted:                 # the same layers in another order: rebuild
            for data in shown:
                picker.del_choice(data.name)
            picker.reset_choices()
        if isinstance(picker, Select):
            picker.value = [x for x in before if x in picker.choices]
        elif before in picker.choices:
            picker.value = before
    if picker.value != before:
        picker.changed.emit(picker.value)


class LayerSync:
    """Keeps a panel's layer pickers in step with the viewer's layer list.

    Connected to the layer list's ``inserted``, ``removed``, ``reordered`` and
    ``renamed`` events (napari keeps a weak reference to :meth:`refresh`, so
    the panel must hold this object). After the pickers, ``then(event)`` runs:
    the panel's own follow-up (watching a new layer, choosing defaults).
    """

    def __init__(self, viewer: Any, pickers: Iterable[ComboBox | Select],
                 then: Callable[[Any], None] | None = None):
        self.pickers = list(pickers)
        self.then = then
        events = viewer.layers.events
        for event in (events.inserted, events.removed, events.reordered):
            event.connect(self.refresh)
        if hasattr(events, "renamed"):  # napari >= 0.7
            events.renamed.connect(self.refresh)
        else:  # older napari: each layer's own name event
            for layer in viewer.layers:
                layer.events.name.connect(self.refresh)
            events.inserted.connect(self._watch_name)

    def _watch_name(self, event: Any) -> None:
        event.value.events.name.connect(self.refresh)

    def refresh(self, event: Any = None) -> None:
        """Reset every picker's choices, then call ``then`` (also for scripts and tests)."""
        with contextlib.suppress(RuntimeError):     # the panel's Qt widgets may be gone
            for picker in self.pickers:
                _resync(picker)
            if self.then is not None:
                self.then(event)
