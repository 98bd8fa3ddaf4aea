"""Point ids and payloads: stable, distinct where they must be, safe to display."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from binding.modality import Modality
from binding.points import (
    MAX_NAME_CHARS,
    POINT_NAMESPACE,
    WHOLE,
    clean_tags,
    display_name,
    make_payload,
    point_id,
    segment_label,
)

SHA = hashlib.sha256(b"some content").hexdigest()


def test_namespace_is_the_documented_uuid5() -> None:
    assert uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/binding/points") == POINT_NAMESPACE


def test_point_id_is_pinned() -> None:
    # Every stored id depends on this formula: a change here orphans existing collections.
    expected = uuid.uuid5(POINT_NAMESPACE, f"imagebind_huge\nimage\n{SHA}\n")
    assert point_id("imagebind_huge", "image", SHA) == expected
    assert point_id("imagebind_huge", Modality.IMAGE, SHA.upper(), WHOLE) == expected
    assert point_id("imagebind_huge", "vision", SHA) == expected  # a synonym of image
    assert expected.version == 5


def test_point_id_differs_by_each_part() -> None:
    other = hashlib.sha256(b"other content").hexdigest()
    ids = {
        point_id("imagebind_huge", "audio", SHA),
        point_id("imagebind_tiny", "audio", SHA),
        point_id("imagebind_huge", "video", SHA),
        point_id("imagebind_huge", "audio", other),
        point_id("imagebind_huge", "audio", SHA, segment_label(0, 10)),
        point_id("imagebind_huge", "audio", SHA, segment_label(10, 20)),
    }
    assert len(ids) == 6


@pytest.mark.parametrize("bad", ["", "abc", "../../etc/passwd", "g" * 64, SHA[:-1], SHA + "0"])
def test_point_id_refuses_what_is_not_a_sha256(bad: str) -> None:
    with pytest.raises(ValueError, match="sha256"):
        point_id("imagebind_huge", "image", bad)


def test_segment_label_fixed_format() -> None:
    assert segment_label(0, 10) == "0.000-10.000"
    assert segment_label(10.0, 20.00049) == "10.000-20.000"
    assert segment_label(1 / 3, 2.5) == "0.333-2.500"
    for start, end in [(5, 5), (-1, 2), (3, 1)]:
        with pytest.raises(ValueError):
            segment_label(start, end)


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("photo.jpg", "photo.jpg"),
        ("../../x", "../../x"),  # a name is only ever a string: nothing to strip
        ("/etc/passwd", "/etc/passwd"),
        ("a\x00b.png", "a\ufffdb.png"),
        ("line\nbreak\r.wav", "line\ufffdbreak\ufffd.wav"),
        ("rtl\u202eexe.txt", "rtl\ufffdexe.txt"),  # bidi override would flip what is shown
        ("", "<unnamed>"),
        ("   ", "<unnamed>"),
        (None, "<unnamed>"),
    ],
)
def test_display_name(name: str | None, shown: str) -> None:
    assert display_name(name) == shown


def test_display_name_bounds_long_names_keeping_both_ends() -> None:
    name = "a" * 150 + "b" * 150 + ".png"
    shown = display_name(name)
    assert len(shown) <= MAX_NAME_CHARS
    assert shown.startswith("aaa") and shown.endswith("b.png") and "\u2026" in shown


def test_payload_fields() -> None:
    payload = make_payload(
        model="imagebind_tiny",
        modality="audio",
        source="/data/a.wav",
        name="a.wav",
        sha256=SHA,
        mime="audio/wav",
        size=1234,
        media="ab/cd/x.wav",
        time=1700000000,
        tags=["b", "a", "b"],
        facts={"duration": 25.0, "sample_rate": 16000, "modality": "not this"},
        start=10,
        end=20,
    )
    assert payload["modality"] == "audio"  # facts never override the core fields
    assert payload["segment"] == "10.000-20.000"
    assert (payload["start"], payload["end"]) == (10.0, 20.0)
    assert payload["tags"] == ["a", "b"]
    assert payload["time"] == 1700000000.0 and isinstance(payload["time"], float)
    assert payload["duration"] == 25.0 and payload["sample_rate"] == 16000
    assert payload["stream"] is None and payload["model"] == "imagebind_tiny"
    whole = make_payload(
        model="m",
        modality="image",
        source="s",
        name="n",
        sha256=SHA,
        mime=None,
        size=1,
        media=None,
        time=0,
    )
    assert whole["segment"] == WHOLE and whole["start"] is None and whole["end"] is None


def test_clean_tags() -> None:
    assert clean_tags([" beach ", "beach", "", "trip"]) == ["beach", "trip"]
    with pytest.raises(ValueError):
        clean_tags(["bad\ntag"])
    with pytest.raises(ValueError):
        clean_tags(["x" * 101])
