"""What a method's maps mean, in words a person can read: one record per registered method.

Each explainer class carries a :class:`MethodInfo` (``Explainer.info``); a registry preset
that changes what the maps mean (``deep_taylor`` is the ``LRP`` class with other rules) gives
its own through :func:`~xai_lab.explain.register`. The :class:`~xai_lab.explain.Explanation`
an explainer returns carries the record too (``e.info``, ``e.title``, ``e.signed``,
``e.meaning``), so every display -- notebook figures, the demo report, the explorer -- reads
the same name and the same sentence from one place, also after ``save``/``load``.

Texts are templates: ``{target}`` stands for the explained class's name and ``{layer}`` for
the explained layer; :func:`fill` puts them in. They say what the map is and what its two
ends mean, never which colours show them (that is the display's job, see ``xai_lab.viz``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class MethodInfo:
    """The display name and meaning of one method's maps.

    Attributes
    ----------
    title : str
        The one display name (``"Grad-CAM"``, ``"Deep Taylor"``).
    signed : bool
        True when negative values mean something (evidence against the class) and maps are
        shown on a diverging scale centred at zero; False for maps that are non-negative by
        construction (shown on a sequential scale from zero).
    meaning : str
        One line: what a value of the map says (template with ``{target}``, ``{layer}``).
    high : str
        What the largest values mean (the top of the colour bar).
    low : str
        What the smallest values mean: negative ones for signed maps, zero otherwise.
    """

    title: str
    signed: bool
    meaning: str
    high: str = "evidence for {target}"
    low: str = ""

    def __post_init__(self) -> None:
        if not self.title:
            raise ValueError("a method needs a display title")
        if not self.low:
            object.__setattr__(self, "low", "evidence against {target}" if self.signed else "none")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> MethodInfo:
        """The record from :meth:`to_dict`'s output; ``ValueError`` when it is not one."""
        if not isinstance(data, dict):
            raise ValueError(f"method info must be a JSON object, got {type(data).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown method info fields {sorted(unknown)}")
        for key in ("title", "meaning", "high", "low"):
            if key in data and not isinstance(data[key], str):
                raise ValueError(f"method info field {key!r} must be a string")
        if not isinstance(data.get("signed"), bool):
            raise ValueError("method info field 'signed' must be true or false")
        try:
            return cls(**data)
        except TypeError as exc:  # a required field is missing
            raise ValueError(f"incomplete method info: {exc}") from exc


def fill(template: str, target: str = "the explained class", layer: str | None = None) -> str:
    """``template`` with ``{target}`` and ``{layer}`` replaced (other braces are kept)."""
    return template.replace("{target}", target).replace("{layer}", layer or "the explained layer")


def generic(method: str, signed: bool) -> MethodInfo:
    """The record of a method that declares none (a custom explainer, an old file)."""
    if signed:
        return MethodInfo(method, True, "positive values: evidence for {target}; negative: against it")
    return MethodInfo(method, False, "larger values: more relevance for {target}",
                      high="most relevant for {target}", low="not relevant")
