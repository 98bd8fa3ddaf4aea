"""Point ids and payloads: what identifies a stored vector and what travels with it.

A point's id is a UUID5 of (model, modality, content sha256, segment), so the same content
embedded by the same model always lands on the same id: re-ingesting, retrying or
redelivering overwrites instead of duplicating. The payload carries what a hit needs to be
shown and filtered: modality, source, hashes, media facts, segment bounds, tags and time.
"""

from __future__ import annotations

import unicodedata
from typing import Any
from uuid import UUID, uuid5

from binding.modality import Modality, parse_modality

#: Our namespace for point ids: uuid5(NAMESPACE_URL, "https://github.com/binding/points").
#: Never change it: every stored id depends on it.
POINT_NAMESPACE = UUID("75681d6c-8aa3-5ccc-b5a3-60724e7bcf96")

#: The segment of a point that stands for a whole file (or a whole text).
WHOLE = ""

#: Version of the payload layout; stored in every payload as `payload_version`.
PAYLOAD_VERSION = 1

#: Longest name kept for display; longer names are cut in the middle with an ellipsis.
MAX_NAME_CHARS = 200


def segment_label(start: float, end: float) -> str:
    """The segment key of a window: seconds with millisecond precision, e.g. `10.000-20.000`."""
    if not (0 <= start < end):
        raise ValueError(f"a segment needs 0 <= start < end, got {start}..{end}")
    return f"{start:.3f}-{end:.3f}"


def point_id(model: str, modality: Modality | str, sha256: str, segment: str = WHOLE) -> UUID:
    """The id of the point for `sha256`'s content (or one of its segments) under `model`."""
    kind = parse_modality(str(modality))
    digest = sha256.lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return uuid5(POINT_NAMESPACE, f"{model}\n{kind.value}\n{digest}\n{segment}")


def display_name(name: str | None) -> str:
    """A user-supplied file name made safe to show: one line, printable, bounded length.

    The result is only ever a payload string: files are stored under their hash, never
    under a name a user chose.
    """
    if not name:
        return "<unnamed>"
    text = "".join(
        "\ufffd" if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") else c
        for c in str(name)
    ).strip()
    if not text:
        return "<unnamed>"
    if len(text) > MAX_NAME_CHARS:
        half = (MAX_NAME_CHARS - 1) // 2
        text = text[:half] + "\u2026" + text[-half:]
    return text


#: Unicode categories a `source` keeps only escaped: controls (newlines, tabs, escape
#: sequences), format characters (bidi overrides and isolates, zero-width marks), line and
#: paragraph separators, lone surrogates.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_source(source: str) -> str:
    """`source` as stored in a payload and shown: one line, no invisible or reordering text.

    The rule (docs/ingest.md): each character of Unicode category Cc, Cf, Zl, Zp or Cs
    becomes a Python-style escape: `\\n`, `\\r`, `\\t`, else `\\xNN`, `\\uNNNN` or
    `\\UNNNNNNNN` (U+202E, RIGHT-TO-LEFT OVERRIDE, becomes `\\u202e`); every other character,
    the backslash included, stays as it is. So ordinary paths are unchanged, and escaping
    is idempotent: a filter on `source` is escaped the same way and matches both the
    original text and the escaped one a user copies from the output.
    """
    if all(unicodedata.category(c) not in _ESCAPED_CATEGORIES for c in source):
        return source
    out = []
    for c in source:
        if unicodedata.category(c) not in _ESCAPED_CATEGORIES:
            out.append(c)
        elif c in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[c])
        else:
            code = ord(c)
            out.append(
                f"\\x{code:02x}"
                if code < 0x100
                else f"\\u{code:04x}"
                if code < 0x10000
                else f"\\U{code:08x}"
            )
    return "".join(out)


def make_payload(
    *,
    model: str,
    modality: Modality | str,
    source: str,
    name: str,
    sha256: str,
    mime: str | None,
    size: int,
    media: str | None,
    time: float,
    tags: list[str] | tuple[str, ...] = (),
    facts: dict[str, Any] | None = None,
    start: float | None = None,
    end: float | None = None,
    stream: str | None = None,
) -> dict[str, Any]:
    """The payload of one point.

    `source` is where the content came from (an absolute path, or `upload:<name>`), kept
    escaped (`escape_source`), `name` its display name, `media` its path inside the media store, `time` seconds since the
    epoch (ingest time for files, reading time for stream windows), `facts` what the decoder
    learned (width, height, duration, sample_rate, frames, fps...). `start`/`end` bound a
    segment in seconds from the start of the file; both are None for a whole-file point.
    """
    segment = WHOLE if start is None or end is None else segment_label(start, end)
    payload: dict[str, Any] = {
        "modality": parse_modality(str(modality)).value,
        "source": escape_source(source),
        "name": display_name(name),
        "sha256": sha256,
        "mime": mime,
        "bytes": int(size),
        "media": media,
        "segment": segment,
        "start": None if start is None else round(float(start), 3),
        "end": None if end is None else round(float(end), 3),
        "stream": stream,
        "tags": sorted(set(tags)),
        "time": float(time),
        "model": model,
        "payload_version": PAYLOAD_VERSION,
    }
    for key, value in (facts or {}).items():
        payload.setdefault(key, value)
    return payload


def clean_tags(tags: list[str] | tuple[str, ...] | set[str]) -> list[str]:
    """Tags as stored: stripped, non-empty, unique, sorted; a tag with a control character is an error."""
    out: set[str] = set()
    for tag in tags:
        text = str(tag).strip()
        if not text:
            continue
        if any(unicodedata.category(c) == "Cc" for c in text) or len(text) > 100:
            raise ValueError(f"a tag must be printable and at most 100 characters: {tag!r}")
        out.add(text)
    return sorted(out)
