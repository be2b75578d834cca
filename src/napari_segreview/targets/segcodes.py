"""Coded concepts of DICOM SEG segments: the card's ``heads[].codes`` and the defaults.

Every SEG segment carries a *segmented property category* and *type*, each a
coded concept ``(value, scheme, meaning)``. :func:`coded_concept` reads one
from a card value; :func:`default_codes` picks SNOMED CT concepts from a
channel name (a few anatomy words, otherwise *Tissue*). The SEG writer
(:mod:`napari_segreview.targets.dicomseg`) uses both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from napari_segreview.errors import CardError

__all__ = ["coded_concept", "codes_for", "default_codes"]

_TISSUE = ("85756007", "SCT", "Tissue")
_ANATOMY = ("91723000", "SCT", "Anatomical Structure")
_ABNORMAL = ("49755003", "SCT", "Morphologically Abnormal Structure")
#: Words in a channel name -> (category, SNOMED CT keyword of the type), pydicom's codes.
_WORDS = {
    "bone": (_TISSUE, "Bone"), "muscle": (_TISSUE, "Muscle"),
    "liver": (_ANATOMY, "Liver"), "kidney": (_ANATOMY, "Kidney"), "lung": (_ANATOMY, "Lung"),
    "spleen": (_ANATOMY, "Spleen"), "heart": (_ANATOMY, "Heart"), "brain": (_ANATOMY, "Brain"),
    "aorta": (_ANATOMY, "Aorta"), "pancreas": (_ANATOMY, "Pancreas"),
    "stomach": (_ANATOMY, "Stomach"), "colon": (_ANATOMY, "Colon"),
    "bladder": (_ANATOMY, "Bladder"), "prostate": (_ANATOMY, "Prostate"),
    "vertebra": (_ANATOMY, "Vertebra"), "rib": (_ANATOMY, "Rib"),
    "tumor": (_ABNORMAL, "Neoplasm"), "tumour": (_ABNORMAL, "Neoplasm"),
    "lesion": (_ABNORMAL, "Lesion"),
}


def coded_concept(spec: Any, where: str) -> tuple[str, str, str]:
    """A coded concept ``(value, scheme, meaning)`` from a card value.

    Accepted: a mapping ``{value, scheme, meaning}``, a list ``[value, scheme,
    meaning]``, the text ``"SCT:10200004:Liver"``, or a SNOMED CT keyword of
    pydicom's code dictionary (``Liver``).

    Raises
    ------
    CardError
        One sentence naming ``where`` (the card field).

    Examples
    --------
    >>> coded_concept({"value": "10200004", "scheme": "SCT", "meaning": "Liver"}, "c")
    ('10200004', 'SCT', 'Liver')
    >>> coded_concept("SCT:272673000:Bone", "c"), coded_concept("Spleen", "c")
    (('272673000', 'SCT', 'Bone'), ('78961009', 'SCT', 'Spleen'))
    """
    if isinstance(spec, Mapping):
        parts = [spec.get(k) for k in ("value", "scheme", "meaning")]
    elif isinstance(spec, (list, tuple)):
        parts = list(spec)
    elif isinstance(spec, str) and spec.count(":") >= 2:
        parts = spec.split(":", 2)
        parts = [parts[1], parts[0], parts[2]]
    elif isinstance(spec, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", spec):
        from pydicom.sr.codedict import codes

        try:
            c = getattr(codes.SCT, spec)
        except AttributeError:
            c = None
        if c is None:
            raise CardError(f"{where} is {spec!r}, which is no SNOMED CT keyword pydicom "
                            "knows; write {value: ..., scheme: SCT, meaning: ...} instead.")
        return (str(c.value), str(c.scheme_designator), str(c.meaning))
    else:
        parts = []
    if len(parts) != 3 or not all(isinstance(p, (str, int)) and str(p).strip() for p in parts):
        raise CardError(f"{where} must be a coded concept, e.g. {{value: '10200004', scheme: "
                        f"SCT, meaning: Liver}} or 'SCT:10200004:Liver', not {spec!r}.")
    return (str(parts[0]).strip(), str(parts[1]).strip(), str(parts[2]).strip())


def default_codes(name: str) -> dict[str, tuple[str, str, str]]:
    """The coded category and type SegReview writes for a channel called ``name``.

    A name holding a known anatomy word (``liver``, ``bone``, ``lesion``...)
    gets that SNOMED CT concept; any other name *Tissue* / *Tissue*.

    Examples
    --------
    >>> default_codes("whole_bone")["type"]
    ('272673000', 'SCT', 'Bone')
    >>> default_codes("part_1")
    {'category': ('85756007', 'SCT', 'Tissue'), 'type': ('85756007', 'SCT', 'Tissue')}
    """
    words = re.split(r"[^a-z]+", name.lower())
    for word in words:
        hit = _WORDS.get(word) or _WORDS.get(word.rstrip("s"))
        if hit is not None:
            return {"category": hit[0], "type": coded_concept(hit[1], name)}
    return {"category": _TISSUE, "type": _TISSUE}


def codes_for(name: str, *specs: Any,
              base: dict | None = None) -> dict[str, tuple[str, str, str]]:
    """Category and type of channel ``name``: ``base`` (or the defaults) overridden by ``specs``.

    ``specs`` are ``(where, {"category": ..., "type": ...})`` pairs (None is
    skipped); ``where`` names the field in error sentences.

    Raises
    ------
    CardError
        A spec that is no mapping of category/type to coded concepts.

    Examples
    --------
    >>> codes_for("part_1", ("codes['part_1']", {"type": "Liver"}))["type"]
    ('10200004', 'SCT', 'Liver')
    """
    out = dict(base) if base is not None else default_codes(name)
    for where, spec in specs:
        if spec is None:
            continue
        if not isinstance(spec, Mapping):
            raise CardError(f"{where} must map category and/or type to coded concepts, not "
                            f"{spec!r}.")
        for key in spec:
            if key not in ("category", "type"):
                raise CardError(f"{where}.{key} is not a coded-concept field: write category "
                                "or type.")
            out[key] = coded_concept(spec[key], f"{where}.{key}")
    return out
