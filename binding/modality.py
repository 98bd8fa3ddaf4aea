"""Modalities: each one described once, in a `ModalitySpec`, in an open registry.

A modality is what users name (`image`, `video`, `audio`, ... or a modality they trained
with `binding train bind`); a spec says everything every layer needs to know about it:

- `network_input`: the tower that embeds it (users speak of images and videos; the network
  has one `vision` tower for both: a video is a stack of two-frame clips the model averages);
- how its files are recognised: `media_categories` (sniffed from the bytes: pictures are
  images, sound is audio), `suffixes` and `folder_names` (a `depth/` folder says what
  the bytes of a 16-bit PNG cannot), `folder_categories` (which sniffed media categories a
  folder name may claim);
- how a file, bytes or an array becomes network items: `decode` (source -> decoded media)
  and `preprocess` (decoded media -> `(S, *item_shape)` tensor), or `prepare_batch` for
  modalities whose items are prepared together (text); `expand` for ingest when a file is
  cut into segments (audio, video, IMU);
- `item_shape` (one network item, without the clip dimension), the `payload_fields` its
  points carry besides the common ones, and the dashboard `preview` kind.

The seven built-ins are registered by `binding.builtin_modalities`, imported at the end of
this module. `register_modality(spec)` adds one; `Modality("name")` and `parse_modality`
accept every registered name. `Modality.IMAGE` and friends are the built-ins' instances.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from pathlib import Path

    import torch

    from binding.config import Settings

#: How the dashboard previews a point of a modality.
PreviewKind = Literal["image", "audio", "video", "text", "line-plot", "heat-map"]

#: A modality's name: lower-case letters, digits and `_`, starting with a letter (the query
#: grammar's names; `NAME:file` must parse).
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class _OpenModalities(type):
    """Iterating `Modality` gives every registered modality, built-ins first."""

    def __iter__(cls) -> Iterator[Modality]:
        return iter([spec.modality for spec in list(_SPECS.values())])

    def __len__(cls) -> int:
        return len(_SPECS)

    def __contains__(cls, value: object) -> bool:
        return isinstance(value, str) and str(value) in _SPECS


class Modality(str, metaclass=_OpenModalities):
    """A registered modality's name: one interned instance per name, a `str` everywhere.

    `Modality("image") is Modality.IMAGE`; an unregistered name is a `ValueError`.
    """

    __slots__ = ()

    TEXT: ClassVar[Modality]
    IMAGE: ClassVar[Modality]
    VIDEO: ClassVar[Modality]
    AUDIO: ClassVar[Modality]
    DEPTH: ClassVar[Modality]
    THERMAL: ClassVar[Modality]
    IMU: ClassVar[Modality]

    def __new__(cls, value: object) -> Modality:
        spec = _SPECS.get(str(value))
        if spec is None:
            raise ValueError(f"{value!r} is not a registered modality")
        return spec.modality

    @classmethod
    def _intern(cls, name: str) -> Modality:
        return str.__new__(cls, name)

    @property
    def value(self) -> str:
        return str.__str__(self)

    @property
    def name(self) -> str:
        return self.value.upper()

    @property
    def spec(self) -> ModalitySpec:
        return _SPECS[self.value]

    def __repr__(self) -> str:
        return f"<Modality.{self.name}: {self.value!r}>"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Modality, (self.value,))


@dataclass(frozen=True)
class Expansion:
    """What ingest makes of one file: units `(start_s, end_s, items)` (None, None for the
    whole file), facts for the payload, and whether the whole-file point is the mean of its
    segments (an IMU recording longer than one window)."""

    units: list[tuple[float | None, float | None, torch.Tensor]]
    facts: dict[str, Any] = field(default_factory=dict)
    whole_from_segments: bool = False
    #: Units decoded only when ingest asks for them, after `units` (a long video's windows):
    #: an iterable of `(start_s, end_s, items)` with a `close()`, closed once consumed or dropped.
    more: Any = None


@dataclass(frozen=True)
class ModalitySpec:
    """Everything the layers need to know about one modality (see the module docstring)."""

    name: str
    network_input: str
    item_shape: tuple[int, ...]
    preview: PreviewKind
    #: source (path or bytes) -> decoded media; None: `preprocess` takes the source itself
    decode: Callable[..., Any] | None = None
    #: decoded media -> (S, *item_shape) float tensor
    preprocess: Callable[[Any], torch.Tensor] | None = None
    #: several items at once -> one (S, *item_shape) tensor each (text: one tokenizer call)
    prepare_batch: Callable[[Sequence[Any]], list[torch.Tensor]] | None = None
    #: ingest of a file (path, label, settings) when it is more than decode + preprocess
    expand: Callable[[Path, str, Settings], Expansion] | None = None
    #: facts a decoded item adds to its payload (width, height...)
    facts: Callable[[Any], dict[str, Any]] | None = None
    #: media categories (`binding.io.sniff`) whose bytes alone make a file this modality
    media_categories: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()
    folder_names: tuple[str, ...] = ()
    folder_categories: frozenset[str] = frozenset()
    payload_fields: tuple[str, ...] = ()
    description: str = ""
    builtin: bool = False
    #: where a registered modality comes from (a trained model folder), for messages
    origin: str | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(
                f"modality name {self.name!r}: use lower-case letters, digits and _, "
                "starting with a letter (at most 40 characters)"
            )
        if self.name in _RESERVED:
            raise ValueError(f"modality name {self.name!r} is reserved")
        if self.prepare_batch is None and self.preprocess is None:
            raise ValueError(f"modality {self.name}: give preprocess (or prepare_batch)")

    @property
    def modality(self) -> Modality:
        return _INSTANCES[self.name]


# `vision` is a synonym of `image`; the query grammar's special sources are not modalities.
_RESERVED = frozenset({"vision", "vec", "id"})

_SPECS: dict[str, ModalitySpec] = {}
_INSTANCES: dict[str, Modality] = {}
_LOCK = threading.Lock()

#: The network input (the reference's `ModalityType`) of every registered modality; kept
#: in step with the registry (read it, never write it).
NETWORK_INPUT: dict[Modality, str] = {}
#: One network item's shape (without the clip dimension) of every registered modality.
ITEM_SHAPES: dict[Modality, tuple[int, ...]] = {}


def register_modality(spec: ModalitySpec, *, replace: bool = False) -> Modality:
    """Add `spec` to the registry and return its `Modality`.

    Registering the same spec again is a no-op; another spec under a registered name is a
    `ValueError` unless `replace` (never for a built-in).
    """
    with _LOCK:
        current = _SPECS.get(spec.name)
        if current is not None and current != spec:
            if current.builtin:
                raise ValueError(f"modality {spec.name!r} is built in and cannot be replaced")
            if not replace:
                where = f" (from {current.origin})" if current.origin else ""
                raise ValueError(f"modality {spec.name!r} is already registered{where}")
        instance = _INSTANCES.get(spec.name) or Modality._intern(spec.name)
        _INSTANCES[spec.name] = instance
        _SPECS[spec.name] = spec
        NETWORK_INPUT[instance] = spec.network_input
        ITEM_SHAPES[instance] = spec.item_shape
        if spec.builtin:
            setattr(Modality, spec.name.upper(), instance)
        return instance


def unregister_modality(name: str) -> None:
    """Remove a registered (not built-in) modality; unknown names are ignored."""
    with _LOCK:
        spec = _SPECS.get(name)
        if spec is None:
            return
        if spec.builtin:
            raise ValueError(f"modality {name!r} is built in and cannot be removed")
        del _SPECS[name]
        NETWORK_INPUT.pop(_INSTANCES[name], None)
        ITEM_SHAPES.pop(_INSTANCES[name], None)


def modality_spec(modality: Modality | str) -> ModalitySpec:
    """The spec of a modality (a `Modality` or any word `parse_modality` accepts)."""
    return _SPECS[parse_modality(str(modality)).value]


def modality_specs() -> list[ModalitySpec]:
    """Every registered spec, built-ins first, in registration order."""
    return list(_SPECS.values())


def parse_modality(name: str) -> Modality:
    """`Modality` from a user's word; accepts `vision` as a synonym of `image`."""
    key = name.strip().lower()
    if key == "vision":
        key = "image"
    spec = _SPECS.get(key)
    if spec is None:
        choices = ", ".join(_SPECS)
        raise ValueError(f"unknown modality {name!r}; choose one of: {choices}")
    return spec.modality


def folder_modalities() -> dict[str, Modality]:
    """Folder names that give their files a modality (`depth/`, `thermal/`, trained names)."""
    return {folder: spec.modality for spec in _SPECS.values() for folder in spec.folder_names}


#: The base network's towers, in the reference's order.
NETWORK_MODALITIES: tuple[str, ...] = ("vision", "text", "audio", "thermal", "depth", "imu")

from binding import builtin_modalities  # noqa: E402  (registers the seven; needs the above)

__all__ = [
    "ITEM_SHAPES",
    "NETWORK_INPUT",
    "NETWORK_MODALITIES",
    "Expansion",
    "Modality",
    "ModalitySpec",
    "PreviewKind",
    "builtin_modalities",
    "folder_modalities",
    "modality_spec",
    "modality_specs",
    "parse_modality",
    "register_modality",
    "unregister_modality",
]
