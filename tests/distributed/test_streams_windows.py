"""Stream windows and the wire format, without Redis: pure functions on real arrays.

The windows a consumer cuts from entries must be the windows `binding.preprocess.imu` cuts
from the whole recording, whatever the entry sizes, and an entry may be acknowledged only
once every window it belongs to is out.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from binding.errors import InputError
from binding.io.imu import ImuRecording
from binding.modality import Modality
from binding.preprocess.imu import imu_windows
from binding.streams import (
    WIRE_VERSION,
    Entry,
    FrameWindows,
    ImuWindows,
    WindowGrid,
    check_stream_id,
    decode_entry,
    encode_end_entry,
    encode_frame_entry,
    encode_imu_entry,
    imu_window_item,
    window_identity,
)

RATE = 400.0


def readings(count: int, seed: int = 0) -> np.ndarray:
    """(count, 6) float32 IMU readings: gravity on z plus noise."""
    rng = np.random.default_rng(seed)
    rows = rng.normal(0, 0.5, size=(count, 6)).astype(np.float32)
    rows[:, 2] += 9.81
    return rows


def entries_of(
    rows: np.ndarray, sizes: list[int], *, run: str = "run1", rate: float = RATE, first: int = 0
) -> list[Entry]:
    """Decoded entries carrying `rows` in pieces of `sizes` (cycled), then the end entry."""
    out, index, number = [], 0, 0
    while index < rows.shape[0]:
        size = sizes[number % len(sizes)]
        chunk = rows[index : index + size]
        fields = encode_imu_entry(run, first + index, 1000.0 + index / rate, rate, chunk)
        out.append(decode_entry("s", f"1-{number}", {"n": str(number), **fields}))
        index += chunk.shape[0]
        number += 1
    end = encode_end_entry(run, first + rows.shape[0])
    out.append(decode_entry("s", f"1-{number}", {"n": str(number), **end}))
    return out


def cut(entries: list[Entry], hop_s: float | None = None) -> tuple[list, ImuWindows]:
    cutter = ImuWindows("s", hop_s=hop_s)
    windows = []
    for entry in entries:
        windows += cutter.add(entry)
    return windows, cutter


# --- wire format -----------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["f32le", "json"])
def test_imu_entry_round_trips_exactly(encoding: str) -> None:
    rows = readings(40)
    fields = encode_imu_entry("r-1", 80, 12.5, RATE, rows, encoding=encoding)  # type: ignore[arg-type]
    raw = {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in fields.items()}
    entry = decode_entry("s", "5-0", {b"n": b"7", **raw})
    assert (entry.seq, entry.kind, entry.run, entry.index) == (7, "imu", "r-1", 80)
    assert (entry.time, entry.rate, entry.count) == (12.5, RATE, 40)
    assert entry.samples is not None
    np.testing.assert_array_equal(entry.samples, rows)
    assert fields["v"] == str(WIRE_VERSION)
    if encoding == "f32le":
        assert len(fields["x"]) == 40 * 6 * 4  # packed: 24 bytes a sample


def test_frame_and_end_entries_round_trip() -> None:
    frame = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
    entry = decode_entry("s", "1-0", encode_frame_entry("thermal", "r", 3, 9.0, 2.0, frame, "png"))
    assert (entry.kind, entry.index, entry.rate, entry.frame, entry.fmt) == (
        "thermal", 3, 2.0, frame, "png",
    )  # fmt: skip
    end = decode_entry("s", "1-1", encode_end_entry("r", 4))
    assert (end.kind, end.index, end.count) == ("end", 4, 0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"v": "2"}, "wire format version '2'"),
        ({"kind": "lidar"}, "unknown entry kind 'lidar'"),
        ({"c": "41"}, "960 bytes of samples; 41 samples of 6 float32 are 984"),
        ({"rate": "nan"}, "field 'rate' is not finite"),
        ({"rate": "5"}, "IMU rate 5 Hz is outside"),
        ({"i": "-3"}, "negative sample index -3"),
        ({"t": "soon"}, "field 't' is not a number: 'soon'"),
        ({"enc": "f16"}, "unknown sample encoding 'f16'"),
        ({"run": "a b"}, "bad run id 'a b'"),
    ],
)
def test_malformed_entries_are_refused_with_the_reason(change: dict, message: str) -> None:
    fields = {**encode_imu_entry("r", 0, 0.0, RATE, readings(40)), **change}
    with pytest.raises(InputError) as caught:
        decode_entry("walk", "9-9", fields)
    assert caught.value.source == "stream walk entry 9-9"
    assert message in caught.value.reason


def test_non_finite_samples_and_missing_fields_are_refused() -> None:
    rows = readings(40)
    rows[7, 4] = np.inf
    fields = encode_imu_entry("r", 100, 0.0, RATE, readings(40))
    fields["x"] = rows.astype("<f4").tobytes()
    with pytest.raises(InputError, match="NaN or infinity in sample 107"):
        decode_entry("s", "1-0", fields)
    del fields["t"]
    with pytest.raises(InputError, match="no field 't'"):
        decode_entry("s", "1-0", fields)
    with pytest.raises(InputError, match="deleted"):
        decode_entry("s", "1-0", {})


def test_stream_ids_cannot_reach_other_keys() -> None:
    assert check_stream_id("imu-01.left_wrist") == "imu-01.left_wrist"
    for bad in ("", "a:dead", "../x", "x" * 65, "-lead", "a b"):
        with pytest.raises(InputError):
            check_stream_id(bad)


# --- windows ---------------------------------------------------------------------------------


@pytest.mark.parametrize("total", [300, 1999, 2000, 2100, 2199, 2200, 4000, 9200, 10_001])
@pytest.mark.parametrize("hop", [None, 500, 2000, 3000])
def test_windows_from_entries_equal_the_preprocessing_of_the_whole_recording(
    total: int, hop: int | None
) -> None:
    rows = readings(total)
    hop_s = None if hop is None else hop / RATE
    windows, _ = cut(entries_of(rows, [40, 7, 113, 40, 1, 256]), hop_s)
    reference = imu_windows(ImuRecording(np.ascontiguousarray(rows.T), RATE), hop=hop)
    assert [(w.start_s, w.end_s) for w in windows] == [(s, e) for s, e, _ in reference]
    for window, (_, _, tensor) in zip(windows, reference, strict=True):
        torch.testing.assert_close(imu_window_item(window.samples, RATE), tensor, rtol=0, atol=0)


def test_a_run_shorter_than_half_a_second_gives_no_window() -> None:
    windows, cutter = cut(entries_of(readings(199), [40]))
    assert windows == [] and cutter.incomplete == 0
    assert WindowGrid.for_imu(RATE).spans(200) == [(0, 200)]


def test_entries_are_ackable_only_when_every_window_they_are_in_is_out() -> None:
    entries = entries_of(readings(5000), [40])  # 125 entries + end
    cutter = ImuWindows("s", hop_s=2.5)  # windows [0,2000) [1000,3000) [2000,4000) [3000,5000)
    released: list[str] = []
    for number, entry in enumerate(entries[:75]):  # samples up to 3000: windows 0 and 1 out
        out = cutter.add(entry)
        released += cutter.ackable()
        if number == 49:  # sample 2000 arrived: window 0 is out
            assert [(w.start, w.end) for w in out] == [(0, 2000)]
    # entries of samples < 2000 are in windows 0 and 1 only: released; the rest wait for window 2
    assert released == [e.id for e in entries[:50]]
    for entry in entries[75:]:
        cutter.add(entry)
        released += cutter.ackable()
    assert released == [e.id for e in entries]  # the end entry closes the run: all released
    assert cutter.holding == 0


def test_dropped_entries_make_windows_incomplete_not_wrong() -> None:
    rows = readings(9200)
    entries = entries_of(rows, [40])
    kept = entries[:60] + entries[70:]  # samples 2400..2800 were trimmed away
    windows, cutter = cut(kept)
    assert [(w.start, w.end) for w in windows] == [
        (0, 2000),
        (4000, 6000),
        (6000, 8000),
        (8000, 9200),
    ]
    assert cutter.incomplete == 1  # [2000, 4000) lost samples: counted, not embedded
    for window in windows:
        np.testing.assert_array_equal(window.samples, rows[window.start : window.end])


def test_a_consumer_that_starts_mid_run_starts_at_the_next_window() -> None:
    """After a crash the first pending entry may sit inside a window already stored."""
    rows = readings(9200)
    entries = entries_of(rows, [40])
    windows, cutter = cut(entries[55:])  # first sample 2200: window 1 starts at 2000, skipped
    assert [(w.start, w.end) for w in windows] == [(4000, 6000), (6000, 8000), (8000, 9200)]
    assert cutter.incomplete == 0
    assert all(w.time == pytest.approx(1000.0 + w.start / RATE) for w in windows)


def test_a_new_run_closes_the_last_one_and_restarts_the_grid() -> None:
    first = entries_of(readings(4500), [40], run="a")[:-1]  # its end entry was lost
    second = entries_of(readings(2000, seed=1), [40], run="b")
    windows, _ = cut(first + second)
    assert [(w.run, w.start, w.end) for w in windows] == [
        ("a", 0, 2000), ("a", 2000, 4000), ("a", 4000, 4500), ("b", 0, 2000),
    ]  # fmt: skip
    ids = {w.identity for w in windows}
    assert len(ids) == 4  # run ids keep windows of two runs apart


def test_overlapping_samples_and_a_rate_change_are_refused() -> None:
    entries = entries_of(readings(200), [40])
    cutter = ImuWindows("s")
    cutter.add(entries[0])
    cutter.add(entries[1])
    with pytest.raises(InputError, match="overlap"):
        cutter.add(entries[0])
    odd = encode_imu_entry("run1", 80, 0.0, 200.0, readings(40))
    with pytest.raises(InputError, match="rate 200 Hz differs"):
        cutter.add(decode_entry("s", "2-0", odd))


def test_windows_at_other_rates_are_resampled_to_the_network_input() -> None:
    rows = readings(1000)  # 5 s at 200 Hz: one full window
    windows, _ = cut(entries_of(rows, [20], rate=200.0))
    assert [(w.start, w.end, w.rate) for w in windows] == [(0, 1000, 200.0)]
    item = imu_window_item(windows[0].samples, 200.0)
    assert tuple(item.shape) == (6, 2000)
    assert float(item[2].mean()) == pytest.approx(9.81, abs=0.1)  # gravity survives resampling


def test_window_identity_is_the_stream_position_not_the_values() -> None:
    same = window_identity("s", "imu", "r", 0, 2000)
    assert same == window_identity("s", "imu", "r", 0, 2000)
    others = {
        window_identity("t", "imu", "r", 0, 2000),
        window_identity("s", "imu", "q", 0, 2000),
        window_identity("s", "imu", "r", 0, 1200),  # a padded tail is not the full window
        window_identity("s", "thermal", "r", 0, 2000),
    }
    assert same not in others and len(others) == 4


def test_frames_are_one_window_each() -> None:
    cutter = FrameWindows("cam", Modality.THERMAL)
    frames = [
        encode_frame_entry("thermal", "r", i, 50.0 + i / 2, 2.0, b"frame%d" % i, "png")
        for i in range(3)
    ]
    windows = []
    for number, fields in enumerate(frames):
        windows += cutter.add(decode_entry("cam", f"1-{number}", fields))
    assert [(w.start, w.end, w.start_s, w.end_s, w.time) for w in windows] == [
        (0, 1, 0.0, 0.5, 50.0), (1, 2, 0.5, 1.0, 50.5), (2, 3, 1.0, 1.5, 51.0),
    ]  # fmt: skip
    assert cutter.ackable() == ["1-0", "1-1", "1-2"]
    with pytest.raises(InputError, match="a imu entry in a thermal stream"):
        cutter.add(decode_entry("cam", "1-9", encode_imu_entry("r", 0, 0.0, RATE, readings(4))))
