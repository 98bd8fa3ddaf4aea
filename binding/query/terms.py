"""What a composite query is: weighted terms, a combination mode, a limit and a filter.

Every object here checks itself when it is built, so a `Query` that exists can run: a term
has a finite non-zero weight and an input that fits its modality, and the mode agrees with
the weights. What is wrong is said in a `QueryError` (an `InputError`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, get_args
from uuid import UUID

import numpy as np

from binding.errors import InputError
from binding.modality import Modality, parse_modality
from binding.store.base import Filter

Mode = Literal["sum", "rrf", "recommend"]
MODES: tuple[str, ...] = get_args(Mode)

#: Results returned when a query does not say (the written form's `@ N`).
DEFAULT_LIMIT = 10
#: Most results one query may ask for; beyond it, narrow the query with a filter.
MAX_LIMIT = 10_000


class QueryError(InputError):
    """A query that cannot run. `term` is the index of the term at fault, when one is."""

    def __init__(self, reason: str, *, term: int | None = None) -> None:
        super().__init__("query", reason)
        self.term = term


class QuerySyntaxError(QueryError):
    """A written query that does not parse; the message shows the query with a caret.

    `message` says what is wrong, `column` where (1-based, in characters), `query` is the text.
    """

    def __init__(self, message: str, column: int, query: str) -> None:
        super().__init__(f"{message} at column {column}\n{caret_line(query, column)}")
        self.message = message
        self.column = column
        self.query = query


class QueryCancelledError(QueryError):
    """The weighted terms add up to (almost) nothing: there is no direction to search in."""


def caret_line(text: str, column: int, width: int = 80) -> str:
    """`text` on one line (a window of `width` characters around `column`) and a caret under it."""
    shown = "".join(c if c.isprintable() and not c.isspace() else " " for c in text)
    index = column - 1
    start = max(0, min(index - width // 2, len(shown) - width))
    end = start + width
    head = "..." if start > 0 else ""
    tail = "..." if end < len(shown) else ""
    window = head + shown[start:end] + tail
    return f"  {window}\n  {' ' * (index - start + len(head))}^"


# --- term inputs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TextInput:
    """Text to embed with the text tower."""

    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise QueryError(f"text must be a string, not {type(self.text).__name__}")
        if not self.text.strip():
            raise QueryError("the text is empty")


@dataclass(frozen=True)
class FileInput:
    """A media file to embed; the query only records the path, the engine opens it."""

    path: str

    def __post_init__(self) -> None:
        if not isinstance(self.path, str | os.PathLike):
            raise QueryError(f"a file path must be a string, not {type(self.path).__name__}")
        path = os.fspath(self.path)
        if not isinstance(path, str) or not path:
            raise QueryError("the file path is empty")
        if "\0" in path:
            raise QueryError("a file path cannot contain a NUL character")
        object.__setattr__(self, "path", path)


@dataclass(frozen=True)
class PointInput:
    """A point already in the store, by id; its stored vector is the term's vector."""

    id: UUID

    def __post_init__(self) -> None:
        if isinstance(self.id, str):
            try:
                object.__setattr__(self, "id", UUID(self.id))
            except ValueError:
                raise QueryError(f"{self.id[:40]!r} is not a point id (a UUID)") from None
        elif not isinstance(self.id, UUID):
            raise QueryError(f"a point id must be a UUID, not {type(self.id).__name__}")


@dataclass(frozen=True)
class VectorInput:
    """A raw vector in the model's space (any length > 0; normalised before use)."""

    vector: tuple[float, ...]

    def __post_init__(self) -> None:
        try:
            values = np.asarray(self.vector, dtype=np.float64)
        except (TypeError, ValueError):
            raise QueryError("a raw vector must be a sequence of numbers") from None
        if values.ndim != 1 or values.size == 0:
            raise QueryError(f"a raw vector must be one non-empty row, not shape {values.shape}")
        if not np.isfinite(values).all():
            raise QueryError("a raw vector must not hold NaN or infinite values")
        if not values.any():
            raise QueryError("a raw vector of zeros has no direction")
        object.__setattr__(self, "vector", tuple(float(v) for v in values))

    def array(self) -> np.ndarray:
        """The vector as a (D,) float64 array."""
        return np.asarray(self.vector, dtype=np.float64)


TermInput = TextInput | FileInput | PointInput | VectorInput


# --- terms and queries ---------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """One weighted input of a query.

    `modality` says how to embed a file (image, audio, ...); text is always `text` (filled
    in when left as None); point ids and raw vectors take None: a stored point has its own
    modality and a raw vector is already embedded. A weight of 0 is refused (the term would
    do nothing, and in recommend it would be neither a positive nor a negative example).
    """

    weight: float
    modality: Modality | None
    input: TermInput

    def __post_init__(self) -> None:
        try:
            weight = float(self.weight)
        except (TypeError, ValueError):
            raise QueryError(f"a weight must be a number, not {self.weight!r}") from None
        if not math.isfinite(weight):
            raise QueryError(f"the weight {self.weight!r} is not a finite number")
        if weight == 0:
            raise QueryError("a weight of 0 has no effect; remove the term instead")
        object.__setattr__(self, "weight", weight)

        modality = self.modality
        if isinstance(modality, str) and not isinstance(modality, Modality):
            try:
                modality = parse_modality(modality)
            except ValueError as e:
                raise QueryError(str(e)) from None
        if modality is not None and not isinstance(modality, Modality):
            raise QueryError(f"a modality must be a Modality or its name, not {modality!r}")
        source = self.input
        if isinstance(source, TextInput):
            if modality not in (None, Modality.TEXT):
                raise QueryError(
                    f"text is embedded as text, not {modality}; for a {modality} file use "
                    f"{modality}:<path>"
                )
            modality = Modality.TEXT
        elif isinstance(source, FileInput):
            if modality is None:
                raise QueryError(f"say which modality the file {source.path!r} is, e.g. image:")
            if modality is Modality.TEXT:
                raise QueryError("a text term takes the text itself, not a file path")
        elif isinstance(source, PointInput | VectorInput):
            if modality is not None:
                what = "a stored point" if isinstance(source, PointInput) else "a raw vector"
                raise QueryError(f"{what} takes no modality (it is already embedded)")
        else:
            raise QueryError(
                f"a term input is a TextInput, FileInput, PointInput or VectorInput, not {source!r}"
            )
        object.__setattr__(self, "modality", modality)

    @classmethod
    def text(cls, text: str, weight: float = 1.0) -> Term:
        """A text term: `Term.text("a dog on a beach", 0.5)`."""
        return cls(weight, Modality.TEXT, TextInput(text))

    @classmethod
    def file(cls, modality: Modality | str, path: str | Path, weight: float = 1.0) -> Term:
        """A media file term: `Term.file("image", "beach.jpg")`."""
        return cls(weight, modality, FileInput(os.fspath(path)))  # type: ignore[arg-type]

    @classmethod
    def point(cls, point_id: UUID | str, weight: float = 1.0) -> Term:
        """A stored point, by id."""
        return cls(weight, None, PointInput(point_id))  # type: ignore[arg-type]

    @classmethod
    def vector(cls, vector: Sequence[float] | np.ndarray, weight: float = 1.0) -> Term:
        """A raw vector in the model's space."""
        return cls(weight, None, VectorInput(vector))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Query:
    """Terms, how to combine them, how many results and which points may match.

    Modes: `sum` (default) searches with the normalised weighted sum of the normalised term
    vectors; `rrf` fuses the term's own searches by reciprocal rank (positive weights scale a
    term's share, negative ones penalise; at least one positive term); `recommend` is
    Qdrant's best-score recommend with positive (+1) and negative (-1) examples: other
    weights mean nothing to it and are refused.

    Stored points used as terms (`id:` terms, a recommend's examples) are left out of the
    results unless `keep_examples` is True (`| examples=keep` in the written form).
    """

    terms: tuple[Term, ...]
    mode: Mode = "sum"
    limit: int = DEFAULT_LIMIT
    filter: Filter | None = None
    keep_examples: bool = False

    def __post_init__(self) -> None:
        terms = tuple(self.terms)
        if not terms:
            raise QueryError("a query needs at least one term")
        for i, term in enumerate(terms):
            if not isinstance(term, Term):
                raise QueryError(f"term {i + 1} is a {type(term).__name__}, not a Term", term=i)
        object.__setattr__(self, "terms", terms)

        if self.mode not in MODES:
            raise QueryError(f"unknown mode {self.mode!r}; choose one of: {', '.join(MODES)}")
        if isinstance(self.limit, bool) or not isinstance(self.limit, int | np.integer):
            raise QueryError(f"the limit must be a whole number, not {self.limit!r}")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise QueryError(f"the limit must be between 1 and {MAX_LIMIT}, not {self.limit}")
        object.__setattr__(self, "limit", int(self.limit))
        object.__setattr__(self, "filter", _checked_filter(self.filter))
        if not isinstance(self.keep_examples, bool):
            raise QueryError(f"keep_examples must be True or False, not {self.keep_examples!r}")

        if self.mode == "recommend":
            for i, term in enumerate(terms):
                if abs(term.weight) != 1.0:
                    raise QueryError(
                        f"recommend takes examples, not weights: term {i + 1} has weight "
                        f"{term.weight:g}; use + (like) or - (unlike), or mode=sum",
                        term=i,
                    )
        if self.mode in ("rrf", "recommend") and all(t.weight < 0 for t in terms):
            raise QueryError(f"{self.mode} needs at least one positive term")

    @property
    def weights(self) -> np.ndarray:
        """The terms' weights, shape (T,)."""
        return np.array([t.weight for t in self.terms], dtype=np.float64)

    @property
    def example_ids(self) -> frozenset[UUID]:
        """The ids of the stored points used as terms."""
        return frozenset(t.input.id for t in self.terms if isinstance(t.input, PointInput))

    def search_filter(self) -> Filter | None:
        """The filter the store searches with: the query's own, and its example points left
        out unless `keep_examples`."""
        examples = frozenset() if self.keep_examples else self.example_ids
        if not examples:
            return self.filter
        base = self.filter or Filter()
        return replace(base, exclude_ids=base.exclude_ids | examples)


# --- filters -------------------------------------------------------------------------------


def to_timestamp(value: float | int | datetime | str) -> float:
    """Seconds since the epoch from a number, a datetime or a string.

    A string is an ISO 8601 date or time (`2026-01-31`, `2026-01-31T08:30`, `...+02:00`),
    UTC when it names no zone, or `@` and seconds since the epoch (`@1767225600`, as GNU
    `date -d` reads it): a bare number would be misread as a year.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("@"):
            try:
                value = float(text[1:])
            except ValueError:
                raise QueryError(f"{text!r} is not '@' and a number of seconds") from None
        else:
            try:
                value = datetime.fromisoformat(text)
            except ValueError:
                raise QueryError(
                    f"{text!r} is not a time: write an ISO 8601 date such as 2026-01-31 or "
                    "2026-01-31T08:30, or @ and seconds since the epoch"
                ) from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        try:
            value = value.timestamp()
        except (OverflowError, OSError, ValueError):
            raise QueryError(f"the time {value} is out of range") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise QueryError(f"a time must be a number, a datetime or a string, not {value!r}")
    seconds = float(value)
    if not math.isfinite(seconds):
        raise QueryError(f"the time {value!r} is not finite")
    return seconds


def make_filter(
    *,
    modalities: Iterable[Modality | str] | None = None,
    tags: Iterable[str] | None = None,
    stream: str | None = None,
    source: str | None = None,
    sha256: str | None = None,
    time_from: float | datetime | str | None = None,
    time_to: float | datetime | str | None = None,
    ids: Iterable[UUID | str] | None = None,
    exclude_ids: Iterable[UUID | str] = (),
) -> Filter | None:
    """A store `Filter` from a user's words, or None when nothing is asked.

    `modalities` and `tags` match any of their values; `time_from`/`time_to` bound the
    point's `time` inclusively (numbers are seconds since the epoch, strings ISO 8601, a
    datetime without a zone is UTC). An empty list is refused: it would match nothing.
    """
    return _checked_filter(
        Filter(
            modalities=None if modalities is None else frozenset(str(m) for m in modalities),
            tags=None if tags is None else frozenset(tags),
            stream=stream,
            source=source,
            sha256=sha256,
            time_from=None if time_from is None else to_timestamp(time_from),
            time_to=None if time_to is None else to_timestamp(time_to),
            ids=None if ids is None else frozenset(_to_uuid(i) for i in ids),
            exclude_ids=frozenset(_to_uuid(i) for i in exclude_ids),
        )
    )


def _to_uuid(value: UUID | str) -> UUID:
    return PointInput(value).id  # type: ignore[arg-type]


def _checked_filter(f: Filter | None) -> Filter | None:
    """`f` with modality names made canonical, or None when it asks nothing; refuse the rest."""
    if f is None:
        return None
    if not isinstance(f, Filter):
        raise QueryError(f"a filter must be a binding.store.Filter, not {type(f).__name__}")
    changes: dict[str, object] = {}
    if f.modalities is not None:
        try:
            changes["modalities"] = frozenset(parse_modality(str(m)).value for m in f.modalities)
        except ValueError as e:
            raise QueryError(str(e)) from None
    for name in ("modalities", "tags", "ids"):
        values = getattr(f, name)
        if values is not None and not values:
            raise QueryError(f"an empty {name} list matches nothing; leave it out to match all")
    for tag in f.tags or ():
        if not isinstance(tag, str) or not tag:
            raise QueryError(f"a tag must be a non-empty string, not {tag!r}")
    for name in ("stream", "source", "sha256"):
        value = getattr(f, name)
        if value is not None and (not isinstance(value, str) or not value):
            raise QueryError(f"{name} must be a non-empty string, not {value!r}")
    if f.ids is not None:
        changes["ids"] = frozenset(_to_uuid(i) for i in f.ids)
    changes["exclude_ids"] = frozenset(_to_uuid(i) for i in f.exclude_ids or ())
    for name in ("time_from", "time_to"):
        value = getattr(f, name)
        if value is not None:
            changes[name] = to_timestamp(value)
    checked = replace(f, **changes)  # type: ignore[arg-type]
    if (
        checked.time_from is not None
        and checked.time_to is not None
        and checked.time_from > checked.time_to
    ):
        raise QueryError("the time range is empty: its start is after its end")
    return None if checked.is_empty() else checked
