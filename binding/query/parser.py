r"""The written form of a query, for the CLI and the dashboard, and its canonical printing.

    0.7*image:beach.jpg + audio:"waves.wav" - 0.5*text:"people" @ 42 | mode=rrf tag=summer

Grammar (ISO EBNF; `ws` is any run of white space, possibly empty):

    query      = ws, [ sign, ws ], term, { ws, sign, ws, term },
                 [ ws, limit ], [ ws, clauses ], ws ;
    sign       = "+" | "-" ;
    term       = [ number, ws, "*", ws ], source ;
    source     = modality, ws, ":", ws, ( bare | quoted )   (* text, or a file path *)
               | "id", ws, ":", ws, ( bare | quoted )       (* a stored point: a UUID *)
               | "vec", ws, ":", ws, vector ;               (* a raw vector *)
    modality   = "text" | "image" | "vision" | "video" | "audio" | "depth" | "thermal" | "imu" ;
    vector     = "[", ws, [ sign ], number, { ws, ",", ws, [ sign ], number }, ws, "]" ;
    number     = ( digits, [ ".", [ digits ] ] | ".", digits ),
                 [ ( "e" | "E" ), [ sign ], digits ] ;
    digits     = digit, { digit } ;
    bare       = bare char - "-", { bare char } ;
    bare char  = ? any character except white space and  " + * @ | ? ;
    quoted     = '"', { ? any character except " and \ ? | '\"' | '\\' }, '"' ;
    limit      = "@", ws, digits ;                          (* how many results, 1 to 10000 *)
    clauses    = "|", ws, clause, { ws, clause } ;
    clause     = name, ws, "=", ws, value, { ws, ",", ws, value } ;
    name       = "mode" | "modality" | "tag" | "stream" | "source" | "sha256"
               | "from" | "to" | "id" | "exclude" | "examples" ;
    value      = quoted | value char, { value char } ;
    value char = ? any character except white space and  " , | ? ;

Modality and clause names are case-insensitive. A `-` inside a bare input belongs to it
(`image:IMG-0001.jpg`), so a minus that joins two terms needs white space before it. The
weight is unsigned: the sign joining the term gives its sign (a leading sign is allowed on
the first term). Clauses: `mode=sum|rrf|recommend`; `modality=` and `tag=` take a comma
list and match any of it; `stream=`, `source=`, `sha256=` one value; `from=`/`to=` an
inclusive time range (ISO 8601, UTC when no zone is given, or `@` and seconds since the
epoch); `id=` restricts to, and `exclude=` leaves out, points by id; `examples=keep` lets
the stored points used as `id:` terms be results (by default they are left out). Each
clause may appear once. docs/query.md explains what each mode does.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import cast
from uuid import UUID

from binding.modality import Modality, parse_modality
from binding.query.terms import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MODES,
    FileInput,
    Mode,
    PointInput,
    Query,
    QueryError,
    QuerySyntaxError,
    Term,
    TermInput,
    TextInput,
    VectorInput,
    to_timestamp,
)
from binding.store.base import Filter

_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_BARE_STOP = frozenset('"+*@|')  # and white space
_VALUE_STOP = frozenset('",|')  # and white space
_SPECIAL_SOURCES = ("id", "vec")
_CLAUSES = (
    "mode", "modality", "tag", "stream", "source", "sha256", "from", "to", "id", "exclude",
    "examples",
)  # fmt: skip
_SINGLE_VALUED = frozenset({"mode", "stream", "source", "sha256", "from", "to", "examples"})
_EXAMPLES = ("exclude", "keep")
_TERM_EXAMPLE = 'a term such as text:"a dog", image:photo.jpg, id:<uuid> or vec:[...]'
_MAX_LIMIT_DIGITS = len(str(MAX_LIMIT))


def parse_query(text: str) -> Query:
    """The `Query` a written query means; `QuerySyntaxError` points at the column at fault."""
    if not isinstance(text, str):
        raise TypeError(f"parse_query takes a string, not {type(text).__name__}")
    return _Parser(text).query()


def format_query(query: Query) -> str:
    """The canonical written form of `query`: `parse_query(format_query(q)) == q`.

    Defaults are left out (`@ 10`, `mode=sum`, a weight of 1).
    """
    parts: list[str] = []
    for i, term in enumerate(query.terms):
        sign = "-" if term.weight < 0 else "+"
        magnitude = abs(term.weight)
        body = ("" if magnitude == 1.0 else f"{_format_number(magnitude)}*") + format_source(term)
        if i == 0:
            parts.append(body if sign == "+" else f"-{body}")
        else:
            parts.append(f"{sign} {body}")
    text = " ".join(parts)
    if query.limit != DEFAULT_LIMIT:
        text += f" @ {query.limit}"
    clauses = ([] if query.mode == "sum" else [f"mode={query.mode}"]) + _format_filter(query.filter)
    if query.keep_examples:
        clauses.append("examples=keep")
    if clauses:
        text += " | " + " ".join(clauses)
    return text


def format_source(term: Term) -> str:
    """A term without its weight, as written: `image:beach.jpg`, `id:<uuid>`, `vec:[...]`."""
    source: TermInput = term.input
    if isinstance(source, PointInput):
        return f"id:{source.id}"
    if isinstance(source, VectorInput):
        return "vec:[" + ", ".join(_format_number(v) for v in source.vector) + "]"
    assert term.modality is not None  # Term guarantees it for text and files
    if isinstance(source, TextInput):
        return f"text:{_quote(source.text)}"  # always quoted: text reads as a phrase
    return f"{term.modality.value}:{_format_input(source.path)}"


def describe_term(term: Term, width: int = 60) -> str:
    """A term's written form, cut to `width` characters, for error messages."""
    written = format_source(term)
    return written if len(written) <= width else written[: width - 3] + "..."


# --- printing ------------------------------------------------------------------------------


def _format_number(value: float) -> str:
    return repr(float(value))  # the shortest text that reads back as the same float


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _format_input(value: str) -> str:
    bare = (
        bool(value)
        and not value.startswith("-")
        and not any(c.isspace() or c in _BARE_STOP for c in value)
    )
    return value if bare else _quote(value)


def _format_value(value: str) -> str:
    bare = bool(value) and not any(c.isspace() or c in _VALUE_STOP for c in value)
    return value if bare else _quote(value)


def _format_time(seconds: float) -> str:
    try:
        moment = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return f"@{_format_number(seconds)}"
    written = moment.isoformat().replace("+00:00", "Z")
    if written.endswith(":00Z") and moment.microsecond == 0:
        written = written[: -len(":00Z")] + "Z"  # 2026-01-31T08:30Z
    return written if to_timestamp(written) == seconds else f"@{_format_number(seconds)}"


def _format_filter(f: Filter | None) -> list[str]:
    if f is None:
        return []
    clauses: list[str] = []
    if f.modalities is not None:
        order = [m.value for m in Modality]
        clauses.append("modality=" + ",".join(sorted(f.modalities, key=order.index)))
    if f.tags is not None:
        clauses.append("tag=" + ",".join(_format_value(t) for t in sorted(f.tags)))
    for name in ("stream", "source", "sha256"):
        value = getattr(f, name)
        if value is not None:
            clauses.append(f"{name}={_format_value(value)}")
    if f.time_from is not None:
        clauses.append(f"from={_format_time(f.time_from)}")
    if f.time_to is not None:
        clauses.append(f"to={_format_time(f.time_to)}")
    if f.ids is not None:
        clauses.append("id=" + ",".join(sorted(str(i) for i in f.ids)))
    if f.exclude_ids:
        clauses.append("exclude=" + ",".join(sorted(str(i) for i in f.exclude_ids)))
    return clauses


# --- reading -------------------------------------------------------------------------------


class _Parser:
    """Recursive descent over characters; `pos` is a 0-based index into `text`."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, message: str, pos: int | None = None) -> QuerySyntaxError:
        column = (self.pos if pos is None else pos) + 1
        return QuerySyntaxError(message, column, self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def expect(self, char: str, message: str) -> None:
        if self.peek() != char:
            raise self.fail(message)
        self.pos += 1

    def query(self) -> Query:
        self.skip_ws()
        if self.pos == len(self.text):
            raise self.fail(f"the query is empty; write {_TERM_EXAMPLE}")
        terms: list[Term] = []
        starts: list[int] = []
        sign = 1.0
        if self.peek() in ("+", "-"):
            sign = -1.0 if self.peek() == "-" else 1.0
            self.pos += 1
            self.skip_ws()
        while True:
            starts.append(self.pos)
            terms.append(self.term(sign))
            self.skip_ws()
            if self.peek() not in ("+", "-"):
                break
            sign = -1.0 if self.peek() == "-" else 1.0
            self.pos += 1
            self.skip_ws()

        limit = DEFAULT_LIMIT
        expected = "'+', '-', '@ N', '| clauses' or the end of the query"
        if self.peek() == "@":
            limit = self.limit()
            self.skip_ws()
            expected = "'| clauses' or the end of the query"
        mode: Mode = "sum"
        mode_pos, query_filter, keep = None, None, False
        if self.peek() == "|":
            mode, mode_pos, query_filter, keep = self.clauses()
        if self.pos < len(self.text):
            raise self.fail(f"expected {expected}, found {self.text[self.pos]!r}")

        try:
            return Query(
                tuple(terms), mode=mode, limit=limit, filter=query_filter, keep_examples=keep
            )
        except QueryError as e:
            pos = starts[e.term] if e.term is not None else (mode_pos or 0)
            raise self.fail(e.reason, pos) from None

    def term(self, sign: float) -> Term:
        weight = 1.0
        if self.peek() and self.peek() in "0123456789.":
            weight_pos = self.pos
            written = self.number()
            weight = float(written)
            if not math.isfinite(weight):
                raise self.fail(f"the weight {written} is too large", weight_pos)
            if weight == 0:
                raise self.fail("a weight of 0 has no effect; remove the term", weight_pos)
            self.skip_ws()
            self.expect("*", f"expected '*' after the weight {written}")
            self.skip_ws()

        name_pos = self.pos
        match = _NAME.match(self.text, self.pos)
        if match is None:
            raise self.fail(f"expected {_TERM_EXAMPLE}")
        name = match.group()
        self.pos = match.end()
        key = name.lower()
        self.skip_ws()
        if self.peek() != ":":
            if key in _SPECIAL_SOURCES or _is_modality(key):
                raise self.fail(f"expected ':' after {name!r}")
            raise self.fail(f"expected {_TERM_EXAMPLE}, found {_shorten(name)!r}", name_pos)
        self.pos += 1
        self.skip_ws()

        modality: Modality | None = None
        if key not in _SPECIAL_SOURCES:
            try:
                modality = parse_modality(key)
            except ValueError:
                choices = ", ".join(m.value for m in Modality)
                raise self.fail(
                    f"unknown modality {_shorten(name)!r}; choose one of: {choices} "
                    "(or id: for a stored point, vec: for a raw vector)",
                    name_pos,
                ) from None

        input_pos = self.pos
        raw: str | tuple[float, ...]
        if key == "vec":
            raw = self.vector()
        else:
            if self.peek() == "-":
                raise self.fail("an input that starts with '-' must be in double quotes")
            what = {"id": "a point id (a UUID)", "text": "the text"}.get(key, "a file path")
            raw = self.value(_BARE_STOP, what)
        source: TermInput
        try:
            if key == "id":
                source = PointInput(raw)  # type: ignore[arg-type]
            elif key == "vec":
                source = VectorInput(raw)  # type: ignore[arg-type]
            elif modality is Modality.TEXT:
                source = TextInput(raw)  # type: ignore[arg-type]
            else:
                source = FileInput(raw)  # type: ignore[arg-type]
            return Term(sign * weight, modality, source)
        except QueryError as e:
            raise self.fail(e.reason, input_pos) from None

    def number(self) -> str:
        match = _NUMBER.match(self.text, self.pos)
        if match is None:
            raise self.fail("expected a number")
        self.pos = match.end()
        return match.group()

    def value(self, stop: frozenset[str], what: str) -> str:
        """A quoted string, or a bare run of characters up to white space or one in `stop`."""
        if self.peek() == '"':
            return self.quoted()
        start = self.pos
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char.isspace() or char in stop:
                break
            self.pos += 1
        if self.pos == start:
            raise self.fail(f"expected {what}")
        return self.text[start : self.pos]

    def quoted(self) -> str:
        start = self.pos
        self.pos += 1
        chars: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == '"':
                self.pos += 1
                return "".join(chars)
            if char == "\\":
                following = self.text[self.pos + 1 : self.pos + 2]
                if not following:
                    break
                if following not in ('"', "\\"):
                    raise self.fail(
                        f"unknown escape '\\{following}'; inside quotes write \\\" for a quote "
                        "and \\\\ for a backslash"
                    )
                chars.append(following)
                self.pos += 2
                continue
            chars.append(char)
            self.pos += 1
        raise self.fail("this string has no closing '\"'", start)

    def vector(self) -> tuple[float, ...]:
        self.expect("[", "expected '[' to start the vector, as in vec:[0.1, -0.2]")
        self.skip_ws()
        values: list[float] = []
        while True:
            number_pos = self.pos
            sign = 1.0
            if self.peek() in ("+", "-"):
                sign = -1.0 if self.peek() == "-" else 1.0
                self.pos += 1
            if not _NUMBER.match(self.text, self.pos):
                what = "a number" if values else "a number (a vector needs at least one)"
                raise self.fail(f"expected {what}")
            value = sign * float(self.number())
            if not math.isfinite(value):
                raise self.fail("this number is too large", number_pos)
            values.append(value)
            self.skip_ws()
            if self.peek() == "]":
                self.pos += 1
                return tuple(values)
            self.expect(",", "expected ',' or ']' in the vector")
            self.skip_ws()

    def limit(self) -> int:
        self.pos += 1  # the "@"
        self.skip_ws()
        digits_pos = self.pos
        while self.peek() and self.peek() in "0123456789":
            self.pos += 1
        if self.pos == digits_pos:
            raise self.fail("expected the number of results after '@', as in @ 20")
        digits = self.text[digits_pos : self.pos].lstrip("0") or "0"
        if len(digits) > _MAX_LIMIT_DIGITS or int(digits) > MAX_LIMIT:
            raise self.fail(f"at most {MAX_LIMIT} results per query", digits_pos)
        if digits == "0":
            raise self.fail("ask for at least 1 result", digits_pos)
        return int(digits)

    def clauses(self) -> tuple[Mode, int | None, Filter | None, bool]:
        self.pos += 1  # the "|"
        self.skip_ws()
        if self.pos == len(self.text):
            raise self.fail("expected a clause such as mode=rrf or tag=beach after '|'")
        seen: dict[str, int] = {}
        mode: Mode = "sum"
        mode_pos = None
        keep = False
        fields: dict[str, object] = {}
        while self.pos < len(self.text):
            name_pos = self.pos
            match = _NAME.match(self.text, self.pos)
            known = ", ".join(_CLAUSES)
            if match is None:
                raise self.fail(f"expected a clause name: {known}")
            name = match.group().lower()
            if name not in _CLAUSES:
                raise self.fail(
                    f"unknown clause {_shorten(match.group())!r}; choose one of: {known}"
                )
            if name in seen:
                raise self.fail(f"'{name}' is given twice; list its values with commas", name_pos)
            seen[name] = name_pos
            self.pos = match.end()
            self.skip_ws()
            self.expect("=", f"expected '=' after '{name}'")
            self.skip_ws()
            values = self.values(name)
            if name in _SINGLE_VALUED and len(values) > 1:
                raise self.fail(f"'{name}' takes one value", values[1][1])
            if name == "mode":
                mode, mode_pos = self.mode(*values[0]), name_pos
            elif name == "examples":
                written, pos = values[0]
                if written.lower() not in _EXAMPLES:
                    raise self.fail(
                        f"examples= takes keep or exclude, not {_shorten(written)!r}", pos
                    )
                keep = written.lower() == "keep"
            else:
                fields.update(self.filter_field(name, values))
            self.skip_ws()

        start, end = fields.get("time_from"), fields.get("time_to")
        if isinstance(start, float) and isinstance(end, float) and start > end:
            raise self.fail("the time range is empty: 'from' is after 'to'", seen["to"])
        query_filter = Filter(**fields) if fields else None  # type: ignore[arg-type]
        return mode, mode_pos, query_filter, keep

    def values(self, name: str) -> list[tuple[str, int]]:
        """A comma list of values, each with its position."""
        found: list[tuple[str, int]] = []
        while True:
            start = self.pos
            what = f"a value after ',' in '{name}='" if found else f"a value after '{name}='"
            found.append((self.value(_VALUE_STOP, what), start))
            after = self.pos
            self.skip_ws()
            if self.peek() != ",":
                self.pos = after
                return found
            self.pos += 1
            self.skip_ws()

    def mode(self, written: str, pos: int) -> Mode:
        if written.lower() not in MODES:
            raise self.fail(
                f"unknown mode {_shorten(written)!r}; choose one of: {', '.join(MODES)}", pos
            )
        return cast(Mode, written.lower())

    def filter_field(self, name: str, values: list[tuple[str, int]]) -> dict[str, object]:
        converted: list[object] = []
        for written, pos in values:
            try:
                if name == "modality":
                    converted.append(parse_modality(written).value)
                elif name in ("from", "to"):
                    converted.append(to_timestamp(written))
                elif name in ("id", "exclude"):
                    converted.append(UUID(written))
                else:
                    converted.append(written)
            except QueryError as e:
                raise self.fail(e.reason, pos) from None
            except ValueError as e:
                what = "a point id (a UUID)" if name in ("id", "exclude") else None
                message = f"{_shorten(written)!r} is not {what}" if what else str(e)
                raise self.fail(message, pos) from None
            if isinstance(converted[-1], str) and not converted[-1]:
                raise self.fail(f"'{name}=' needs a non-empty value", pos)
        field = {
            "modality": "modalities",
            "tag": "tags",
            "from": "time_from",
            "to": "time_to",
            "id": "ids",
            "exclude": "exclude_ids",
        }.get(name, name)
        if name in _SINGLE_VALUED:
            return {field: converted[0]}
        return {field: frozenset(converted)}


def _shorten(written: str, width: int = 40) -> str:
    return written if len(written) <= width else written[: width - 3] + "..."


def _is_modality(name: str) -> bool:
    try:
        parse_modality(name)
    except ValueError:
        return False
    return True
