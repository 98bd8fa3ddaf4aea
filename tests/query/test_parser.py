"""The written query form: examples, canonical printing, round trips, errors and fuzzing (R15)."""

from __future__ import annotations

import math
from uuid import UUID

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from binding.errors import InputError
from binding.modality import Modality
from binding.query import (
    MAX_LIMIT,
    FileInput,
    PointInput,
    Query,
    QueryError,
    QuerySyntaxError,
    Term,
    TextInput,
    VectorInput,
    format_query,
    make_filter,
    parse_query,
)
from binding.store.base import Filter

UID = UUID("6f1c1c9e-2b44-4b7a-9c7e-0c0a3f3e2d11")
UID2 = UUID("00000000-0000-4000-8000-000000000001")


# --- examples ------------------------------------------------------------------------------


def test_the_issue_example() -> None:
    q = parse_query('0.7*image:beach.jpg + audio:"waves.wav" - 0.5*text:"people" @ 42')
    assert q == Query(
        (
            Term(0.7, Modality.IMAGE, FileInput("beach.jpg")),
            Term(1.0, Modality.AUDIO, FileInput("waves.wav")),
            Term(-0.5, Modality.TEXT, TextInput("people")),
        ),
        limit=42,
    )
    assert format_query(q) == '0.7*image:beach.jpg + audio:waves.wav - 0.5*text:"people" @ 42'


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("text:dog", Query((Term.text("dog"),))),
        ('  text : "a dog"  ', Query((Term.text("a dog"),))),
        ("-text:dog", Query((Term.text("dog", -1.0),))),
        ("+ 2 * text:dog", Query((Term.text("dog", 2.0),))),
        ("1.5e-1*text:dog", Query((Term.text("dog", 0.15),))),
        (".5*text:dog", Query((Term.text("dog", 0.5),))),
        ("IMAGE:a.png", Query((Term.file(Modality.IMAGE, "a.png"),))),
        ("vision:a.png", Query((Term.file(Modality.IMAGE, "a.png"),))),
        ("image:IMG-0001.jpg", Query((Term.file(Modality.IMAGE, "IMG-0001.jpg"),))),
        ("image:C:\\photos\\x.jpg", Query((Term.file(Modality.IMAGE, "C:\\photos\\x.jpg"),))),
        ('image:"my photo.jpg"', Query((Term.file(Modality.IMAGE, "my photo.jpg"),))),
        ('text:"say \\"hi\\" \\\\ bye"', Query((Term.text('say "hi" \\ bye'),))),
        ('text:"-minus"', Query((Term.text("-minus"),))),
        (f"id:{UID}", Query((Term.point(UID),))),
        (f'0.5*id:"{UID}"', Query((Term.point(UID, 0.5),))),
        ("vec:[1, -2.5, .5e1]", Query((Term.vector([1.0, -2.5, 5.0]),))),
        ("vec:[ 0.1 ,0.2 ]", Query((Term.vector([0.1, 0.2]),))),
        ("text:a@3", Query((Term.text("a"),), limit=3)),
        ("text:a - text:b | mode=rrf", Query((Term.text("a"), Term.text("b", -1)), mode="rrf")),
        (
            f"id:{UID} - id:{UID2} | MODE=recommend",
            Query((Term.point(UID), Term.point(UID2, -1)), mode="recommend"),
        ),
        (
            'text:a | modality=image,video tag=beach, "sunny day" stream=s1 from=2026-01-01 '
            "to=2026-01-02T12:00+02:00",
            Query(
                (Term.text("a"),),
                filter=Filter(
                    modalities=frozenset({"image", "video"}),
                    tags=frozenset({"beach", "sunny day"}),
                    stream="s1",
                    time_from=1767225600.0,
                    time_to=1767348000.0,
                ),
            ),
        ),
        (
            f"text:a @ 5 | from=@-1.5 id={UID},{UID2} exclude={UID2} source=a.jpg sha256=ab",
            Query(
                (Term.text("a"),),
                limit=5,
                filter=Filter(
                    time_from=-1.5,
                    ids=frozenset({UID, UID2}),
                    exclude_ids=frozenset({UID2}),
                    source="a.jpg",
                    sha256="ab",
                ),
            ),
        ),
    ],
)
def test_examples_parse(written: str, expected: Query) -> None:
    assert parse_query(written) == expected
    assert parse_query(format_query(expected)) == expected


@pytest.mark.parametrize(
    ("query", "written"),
    [
        (Query((Term.text("dog"),)), 'text:"dog"'),
        (Query((Term.text("dog", -1),)), '-text:"dog"'),
        (Query((Term.file("audio", "a b.wav", 2), Term.point(UID, -0.25))), None),
        (Query((Term.vector([1.0, -0.5]),), limit=3), "vec:[1.0, -0.5] @ 3"),
        (
            Query((Term.text("a"),), mode="rrf", filter=make_filter(time_from="2026-01-31T08:30")),
            'text:"a" | mode=rrf from=2026-01-31T08:30Z',
        ),
        (
            Query((Term.text("a"),), filter=make_filter(tags=["x,y", "b"], modalities=["imu"])),
            'text:"a" | modality=imu tag=b,"x,y"',
        ),
    ],
)
def test_canonical_form(query: Query, written: str | None) -> None:
    if written is None:
        written = f'2.0*audio:"a b.wav" - 0.25*id:{UID}'
    assert format_query(query) == written
    assert parse_query(written) == query


# --- round trip ----------------------------------------------------------------------------

_file_modalities = st.sampled_from([m for m in Modality if m is not Modality.TEXT])
_texts = st.text(min_size=1, max_size=20).filter(lambda s: s.strip() != "")
_paths = st.text(min_size=1, max_size=20).filter(lambda s: "\0" not in s)
_weights = st.floats(allow_nan=False, allow_infinity=False).filter(lambda w: w != 0)
_finite = st.floats(allow_nan=False, allow_infinity=False)
_vectors = st.lists(_finite, min_size=1, max_size=5).filter(lambda v: any(x != 0 for x in v))
_inputs = st.one_of(
    st.builds(lambda t: (Modality.TEXT, TextInput(t)), _texts),
    st.builds(lambda m, p: (m, FileInput(p)), _file_modalities, _paths),
    st.builds(lambda u: (None, PointInput(u)), st.uuids()),
    st.builds(lambda v: (None, VectorInput(tuple(v))), _vectors),
)
_terms = st.builds(lambda w, mi: Term(w, mi[0], mi[1]), _weights, _inputs)
_names = st.text(min_size=1, max_size=12)
_uuid_sets = st.frozensets(st.uuids(), min_size=1, max_size=3)


@st.composite
def _filters(draw: st.DrawFn) -> Filter | None:
    times = sorted(draw(st.lists(_finite, min_size=2, max_size=2)))
    fields = {
        "modalities": st.frozensets(st.sampled_from([m.value for m in Modality]), min_size=1),
        "tags": st.frozensets(_names, min_size=1, max_size=3),
        "stream": _names,
        "source": _names,
        "sha256": _names,
        "time_from": st.just(times[0]),
        "time_to": st.just(times[1]),
        "ids": _uuid_sets,
        "exclude_ids": _uuid_sets,
    }
    chosen = draw(st.sets(st.sampled_from(sorted(fields))))
    return Filter(**{name: draw(fields[name]) for name in chosen}) if chosen else None


@st.composite
def queries(draw: st.DrawFn) -> Query:
    mode = draw(st.sampled_from(["sum", "rrf", "recommend"]))
    terms = draw(st.lists(_terms, min_size=1, max_size=4))
    if mode == "recommend":
        terms = [Term(math.copysign(1.0, t.weight), t.modality, t.input) for t in terms]
    if mode != "sum" and all(t.weight < 0 for t in terms):
        terms[0] = Term(-terms[0].weight, terms[0].modality, terms[0].input)
    limit = draw(st.integers(1, MAX_LIMIT))
    return Query(tuple(terms), mode=mode, limit=limit, filter=draw(_filters()))


@given(queries())
@settings(max_examples=300, deadline=None)
def test_round_trip(query: Query) -> None:
    written = format_query(query)
    assert parse_query(written) == query
    assert format_query(parse_query(written)) == written


# --- fuzzing (R15): nothing but QuerySyntaxError ---------------------------------------------

_fragments = st.sampled_from(
    [
        "text",
        "image",
        "audio",
        "id",
        "vec",
        ":",
        "*",
        "+",
        "-",
        "@",
        "|",
        "=",
        ",",
        "[",
        "]",
        '"',
        "\\",
        " ",
        "0",
        "0.5",
        "1e999",
        "9" * 30,
        ".",
        "e",
        "a.jpg",
        str(UID),
        "mode",
        "rrf",
        "recommend",
        "modality",
        "tag",
        "from",
        "to",
        "2026-01-01",
        "@1e400",
        "exclude",
        "\0",
        "\n",
        "é",
    ]
)


def _check_parse(text: str) -> None:
    try:
        query = parse_query(text)
    except QuerySyntaxError as e:
        assert 1 <= e.column <= len(text) + 1
        assert e.query == text
        assert "^" in str(e)
        return
    assert parse_query(format_query(query)) == query


@given(st.text(max_size=200))
@settings(max_examples=500, deadline=None)
@example("")
@example("1e400*text:a")
@example("vec:[1e400]")
@example("vec:[0, 0]")
@example("text:a @ " + "9" * 5000)
@example("text:a @ " + "0" * 5000 + "7")
@example("text:a | from=9999-12-31T23:59:59-23:59")
@example("text:a | from=0001-01-01T00:00+01:00")
def test_random_text_raises_only_syntax_errors(text: str) -> None:
    _check_parse(text)


@given(st.lists(_fragments, max_size=25).map("".join))
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_grammar_fragments_raise_only_syntax_errors(text: str) -> None:
    _check_parse(text)


# --- errors point at the right column --------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "column", "says"),
    [
        ("", 1, "the query is empty"),
        ("   ", 4, "the query is empty"),
        ("0.7*image beach.jpg", 11, "expected ':' after 'image'"),
        ("imag:x.jpg", 1, "unknown modality 'imag'; choose one of: text, image"),
        ("text:a + imge:x", 10, "unknown modality 'imge'"),
        ("beach.jpg", 1, "expected a term"),
        ("text:a +", 9, "expected a term"),
        ("text:a text:b", 8, "expected '+', '-', '@ N', '| clauses'"),
        ('text:"abc', 6, "no closing '\"'"),
        ('text:"a\\nb"', 8, "unknown escape '\\n'"),
        ("0*text:a", 1, "a weight of 0"),
        ("text:a - 0.0*text:b", 10, "a weight of 0"),
        ("1e999*text:a", 1, "too large"),
        ("0.5 text:a", 5, "expected '*' after the weight 0.5"),
        ("2*", 3, "expected a term"),
        ("image:", 7, "expected a file path"),
        ("text:", 6, "expected the text"),
        ('text:""', 6, "the text is empty"),
        ("image:-x.jpg", 7, "must be in double quotes"),
        ("id:42", 4, "is not a point id"),
        ("vec:1", 5, "expected '['"),
        ("vec:[]", 6, "a vector needs at least one"),
        ("vec:[1 2]", 8, "expected ',' or ']'"),
        ("vec:[0, 0]", 5, "zeros has no direction"),
        ("vec:[1, 1e400]", 9, "too large"),
        ("text:a @", 9, "expected the number of results"),
        ("text:a @ 0", 10, "at least 1"),
        ("text:a @ 10001", 10, "at most 10000"),
        ("text:a @ 00", 10, "at least 1"),
        ("text:a @ 3 text:b", 12, "expected '| clauses' or the end"),
        ("text:a |", 9, "expected a clause"),
        ("text:a | colour=red", 10, "unknown clause 'colour'"),
        ("text:a | mode rrf", 15, "expected '=' after 'mode'"),
        ("text:a | mode=", 15, "expected a value after 'mode='"),
        ("text:a | mode=best", 15, "unknown mode 'best'"),
        ("text:a | mode=rrf,sum", 19, "'mode' takes one value"),
        ("text:a | tag=x tag=y", 16, "'tag' is given twice"),
        ("text:a | tag=x,", 16, "expected a value after ','"),
        ('text:a | tag=""', 14, "needs a non-empty value"),
        ("text:a | modality=image,smell", 25, "unknown modality 'smell'"),
        ("text:a | from=yesterday", 15, "is not a time"),
        ("text:a | from=2024", 15, "is not a time"),
        ("text:a | from=@x", 15, "'@' and a number"),
        ("text:a | to=2020-01-01 from=2021-01-01", 10, "'from' is after 'to'"),
        ("text:a | id=xyz", 13, "is not a point id"),
        ("text:a + 0.5*text:b | mode=recommend", 10, "recommend takes examples, not weights"),
        ("-text:a - text:b | mode=rrf", 20, "rrf needs at least one positive term"),
    ],
)
def test_error_columns(written: str, column: int, says: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(written)
    error = caught.value
    assert says in error.message
    assert error.column == column, str(error)


def test_error_message_shows_a_caret_under_the_column() -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query("0.7*image beach.jpg")
    lines = str(caught.value).splitlines()
    assert lines[0] == "query: expected ':' after 'image' at column 11"
    assert lines[1] == "  0.7*image beach.jpg"
    assert lines[2] == "  " + " " * 10 + "^"


def test_long_query_error_shows_a_window_around_the_column() -> None:
    written = "text:a + " * 40 + "imag:x"
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(written)
    _, shown, caret = str(caught.value).splitlines()
    assert len(shown) < 100
    assert shown[caret.index("^") :].startswith("imag:x")


def test_syntax_errors_are_input_errors() -> None:
    with pytest.raises(InputError):
        parse_query("text:")
    with pytest.raises(ValueError):
        parse_query("text:")


# --- what a Query refuses when built in code -----------------------------------------------


@pytest.mark.parametrize(
    ("build", "says"),
    [
        (lambda: Query(()), "at least one term"),
        (lambda: Query((Term.text("a"),), mode="max"), "unknown mode"),  # type: ignore[arg-type]
        (lambda: Query((Term.text("a"),), limit=0), "between 1 and"),
        (lambda: Query((Term.text("a"),), limit=True), "whole number"),
        (lambda: Term(0, Modality.TEXT, TextInput("a")), "weight of 0"),
        (lambda: Term(float("nan"), Modality.TEXT, TextInput("a")), "not a finite number"),
        (lambda: Term(1, Modality.IMAGE, TextInput("a")), "text is embedded as text"),
        (lambda: Term(1, None, FileInput("a.jpg")), "say which modality"),
        (lambda: Term(1, Modality.TEXT, FileInput("a.txt")), "takes the text itself"),
        (lambda: Term(1, Modality.IMAGE, PointInput(UID)), "takes no modality"),
        (lambda: Term(1, "smell", FileInput("a")), "unknown modality"),
        (lambda: TextInput("  "), "the text is empty"),
        (lambda: FileInput("a\0b"), "NUL"),
        (lambda: PointInput("nope"), "not a point id"),  # type: ignore[arg-type]
        (lambda: VectorInput((1.0, float("inf"))), "NaN or infinite"),
        (lambda: VectorInput(()), "non-empty"),
        (lambda: Query((Term.text("a", 2),), mode="recommend"), "not weights"),
        (lambda: Query((Term.text("a", -1),), mode="recommend"), "at least one positive"),
        (lambda: Query((Term.text("a"),), filter=Filter(tags=frozenset())), "matches nothing"),
        (lambda: Query((Term.text("a"),), filter=Filter(stream="")), "non-empty string"),
        (
            lambda: Query((Term.text("a"),), filter=Filter(time_from=2.0, time_to=1.0)),
            "time range is empty",
        ),
        (lambda: make_filter(modalities=["smell"]), "unknown modality"),
        (lambda: make_filter(time_from="soon"), "is not a time"),
    ],
)
def test_invalid_queries_are_refused(build, says: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(QueryError, match=says):
        build()


def test_text_terms_take_the_text_modality_and_filters_normalise() -> None:
    assert Term(1, None, TextInput("a")).modality is Modality.TEXT
    assert Term(1, "vision", FileInput("a.png")).modality is Modality.IMAGE
    q = Query((Term.text("a"),), filter=Filter(modalities=frozenset({"VISION"})))
    assert q.filter == Filter(modalities=frozenset({"image"}))
    assert Query((Term.text("a"),), filter=Filter()).filter is None
    assert make_filter() is None
    assert make_filter(stream="s1", time_to=10) == Filter(stream="s1", time_to=10.0)
