"""The Compose page's term rows: their state, and the round trip rows <-> `Query`.

A row is a sign, a weight, and one input: text, an uploaded file (kept as bytes in the
session, referred to by its name) or a stored point (by id). Rows are the truth; the written
form is printed from them with `format_query`, and a written form the user edits is parsed
back into rows with `parse_query`. File terms in the written form name uploads, never paths.

Widget keys are `compose_<field>_<uid>`; every widget keeps its value across page switches
(`persist_state="session"`), and rows themselves live in `st.session_state.compose_rows`.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

#: What a row can hold.
KINDS = ("text", "file", "stored")
KIND_LABELS = {"text": "Text", "file": "File", "stored": "Stored item", "vector": "Vector"}
#: Signs as shown (a real minus sign) and as meant.
SIGNS = ("+", "\u2212")
#: Most uploads a session keeps for its terms (oldest dropped first).
MAX_UPLOADS = 24


def key(field: str, uid: int) -> str:
    return f"compose_{field}_{uid}"


@dataclass
class Row:
    """One term row as the page shows it (mirrors the widgets' values)."""

    uid: int
    kind: str = "text"
    sign: str = "+"
    weight: float = 1.0
    modality: str | None = None  # for file rows
    text: str = ""
    upload: str | None = None  # name of an upload in compose_uploads
    point: str | None = None  # stored point id
    vector: tuple[float, ...] | None = None  # a raw vector from a written query


def new_row(state: Any, **values: Any) -> Row:
    """A new row with a fresh uid; its widgets start from `values`."""
    uid = int(state.get("compose_next_uid", 0))
    state["compose_next_uid"] = uid + 1
    row = Row(uid=uid, **values)
    seed_widgets(state, row)
    return row


def seed_widgets(state: Any, row: Row) -> None:
    """Put a row's values into its widgets' session-state keys."""
    state[key("kind", row.uid)] = row.kind
    state[key("sign", row.uid)] = row.sign
    state[key("weight", row.uid)] = float(row.weight)
    state[key("modality", row.uid)] = row.modality
    state[key("text", row.uid)] = row.text
    state[key("point", row.uid)] = row.point


def forget(state: Any, uid: int) -> None:
    """Drop a removed row's widget values."""
    for name in ("kind", "sign", "weight", "modality", "text", "point", "file"):
        state.pop(key(name, uid), None)


def read_widgets(state: Any, row: Row) -> Row:
    """The row with the values its widgets hold now."""
    row.kind = state.get(key("kind", row.uid)) or row.kind
    row.sign = state.get(key("sign", row.uid)) or row.sign
    row.weight = float(state.get(key("weight", row.uid), row.weight))
    row.modality = state.get(key("modality", row.uid), row.modality)
    row.text = state.get(key("text", row.uid), row.text) or ""
    row.point = state.get(key("point", row.uid), row.point)
    return row


def signed_weight(row: Row, mode: str) -> float:
    magnitude = 1.0 if mode == "recommend" else float(row.weight)
    return -magnitude if row.sign != "+" else magnitude


def row_term(
    row: Row, mode: str, uploads: MutableMapping[str, Any]
) -> tuple[Any | None, str | None]:
    """(the row's `Term`, None), or (None, what the row still needs)."""
    from binding.query import FileInput, QueryError, Term

    weight = signed_weight(row, mode)
    if weight == 0:
        return None, "weight 0: the term is off"
    try:
        if row.kind == "text":
            if not row.text.strip():
                return None, "type some text"
            return Term.text(row.text.strip(), weight), None
        if row.kind == "file":
            if not row.upload or row.upload not in uploads:
                wanted = f" ({row.upload})" if row.upload else ""
                return None, f"upload a file{wanted}"
            if not row.modality:
                return None, "say which modality the file is"
            return Term(weight, row.modality, FileInput(row.upload)), None  # type: ignore[arg-type]
        if row.kind == "stored":
            if not row.point:
                return None, "pick a stored item"
            return Term.point(row.point, weight), None
        if row.kind == "vector" and row.vector:
            return Term.vector(row.vector, weight), None
    except QueryError as exc:
        return None, exc.reason
    return None, "incomplete"


def missing_uploads(query: Any, uploads: MutableMapping[str, Any]) -> str | None:
    """What is wrong when file terms of `query` name files this session has not uploaded
    (every such term, by number and name); None when every file term has its upload."""
    from binding.query import FileInput

    missing = [
        f"term {i + 1} ({term.modality.value}:{term.input.path})"
        for i, term in enumerate(query.terms)
        if isinstance(term.input, FileInput) and term.input.path not in uploads
    ]
    if not missing:
        return None
    which = ", ".join(missing)
    needs = "names a file" if len(missing) == 1 else "name files"
    return (
        f"{which} {needs} not uploaded in this session. Upload the file in a File term "
        "first, then refer to it by its name (the dashboard never opens files on the "
        "server by name)."
    )


def rows_from_query(state: Any, query: Any) -> list[Row]:
    """Fresh rows (with seeded widgets) for each term of a parsed query."""
    from binding.query import FileInput, PointInput, TextInput, VectorInput

    rows = []
    for term in query.terms:
        sign = "+" if term.weight > 0 else SIGNS[1]
        weight = abs(float(term.weight))
        source = term.input
        if isinstance(source, TextInput):
            rows.append(new_row(state, kind="text", sign=sign, weight=weight, text=source.text))
        elif isinstance(source, FileInput):
            modality = term.modality.value if term.modality is not None else None
            rows.append(
                new_row(
                    state,
                    kind="file",
                    sign=sign,
                    weight=weight,
                    modality=modality,
                    upload=source.path,
                )
            )
        elif isinstance(source, PointInput):
            rows.append(
                new_row(state, kind="stored", sign=sign, weight=weight, point=str(source.id))
            )
        elif isinstance(source, VectorInput):
            rows.append(
                new_row(state, kind="vector", sign=sign, weight=weight, vector=source.vector)
            )
    return rows


def term_label(term: Any, names: MutableMapping[str, str] | None = None, width: int = 34) -> str:
    """A short label for explanation bars: `+0.7 image beach.jpg`."""
    from binding.query import FileInput, PointInput, TextInput

    weight = float(term.weight)
    sign = "+" if weight > 0 else "\u2212"
    magnitude = f"{abs(weight):g}"
    source = term.input
    if isinstance(source, TextInput):
        body = f"text \u201c{source.text}\u201d"
    elif isinstance(source, FileInput):
        body = f"{term.modality.value} {source.path}"
    elif isinstance(source, PointInput):
        name = (names or {}).get(str(source.id), "").split(" \u00b7 ")[0]
        body = name if name else f"id {str(source.id)[:8]}"
    else:
        body = "vector"
    label = f"{sign}{magnitude} {body}"
    return label if len(label) <= width else label[: width - 1] + "\u2026"
