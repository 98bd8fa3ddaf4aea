"""IMU decoding from CSV and .npy: channel names, time columns, transposition, bad input (R10, R15)."""

from __future__ import annotations

import io
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from binding.errors import InputError
from binding.io.imu import DEFAULT_NPY_RATE, IMU_CHANNELS, decode_imu, imu_columns


def motion(steps: int) -> np.ndarray:
    """(6, T): channel c is a distinct ramp, so any mix-up of channels or time shows."""
    t = np.arange(steps, dtype=np.float64)
    return np.stack([c * 1000 + t for c in range(6)]).astype(np.float32)


def csv_text(header: list[str], rows: np.ndarray, delimiter: str = ",") -> bytes:
    lines = [delimiter.join(header)]
    lines += [delimiter.join(f"{v:.6g}" for v in row) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


# --- CSV ------------------------------------------------------------------------------------------


def test_csv_in_any_order_with_a_time_column_in_ms() -> None:
    samples = motion(400)  # 2 s at 200 Hz
    order = [4, 0, 5, 2, 1, 3]
    names = {0: "ax", 1: "accel_y", 2: "Acc Z", 3: "gx", 4: "gyro_y", 5: "gyrZ"}
    header = ["time_ms"] + [names[c] for c in order]
    times = 1_000 + np.arange(400) * 5.0  # ms
    rows = np.column_stack([times] + [samples[c] for c in order])
    recording = decode_imu(csv_text(header, rows), name="walk.csv")
    assert recording.sample_rate == pytest.approx(200.0)
    assert recording.start_s == pytest.approx(1.0)
    np.testing.assert_array_equal(recording.samples, samples)
    assert recording.samples.dtype == np.float32 and recording.source == "walk.csv"


@pytest.mark.parametrize(
    ("column", "step", "rate"),
    [
        ("t", 0.0025, 400.0),
        ("timestamp", 10_000_000, 100.0),
        ("time", 5.0, 200.0),
        ("time (us)", 2500, 400.0),
    ],
)
def test_time_unit_inferred_or_named(column: str, step: float, rate: float) -> None:
    samples = motion(800)
    rows = np.column_stack([np.arange(800) * step, samples.T])
    recording = decode_imu(csv_text([column, *IMU_CHANNELS], rows))
    assert recording.sample_rate == pytest.approx(rate)


def test_csv_without_time_uses_the_given_rate(tmp_path: Path) -> None:
    path = tmp_path / "imu.tsv"
    path.write_bytes(
        csv_text(["accX", "accY", "accZ", "gyroX", "gyroY", "gyroZ"], motion(300).T, "\t")
    )
    assert decode_imu(path, sample_rate=100).sample_rate == 100
    assert decode_imu(path).sample_rate == DEFAULT_NPY_RATE  # 300 samples at 400 Hz = 0.75 s
    assert decode_imu(path).source == str(path)


def test_jittery_timestamps_are_put_on_a_grid() -> None:
    rng = np.random.default_rng(0)
    times = np.arange(1000) * 0.01 + rng.uniform(-0.003, 0.003, 1000)  # 100 Hz, +-30% jitter
    values = np.tile(times * 10, (6, 1))  # each channel is 10 * time: interpolation is exact
    recording = decode_imu(csv_text(["time_s", *IMU_CHANNELS], np.column_stack([times, values.T])))
    assert recording.sample_rate == pytest.approx(100, rel=0.05)
    grid = recording.start_s + np.arange(recording.samples.shape[1]) / recording.sample_rate
    np.testing.assert_allclose(recording.samples[0], grid * 10, atol=1e-3)


def test_comments_extra_columns_and_semicolons() -> None:
    text = "# exported by a phone\nmag_x;acc_x;acc_y;acc_z;gyr_x;gyr_y;gyr_z;temp\n"
    text += "".join(f"9;{i};1;2;3;4;5;20\n" for i in range(300))
    recording = decode_imu(text.encode(), sample_rate=400)
    assert recording.samples.shape == (6, 300)
    np.testing.assert_array_equal(recording.samples[0], np.arange(300))
    np.testing.assert_array_equal(recording.samples[5], 5)


def test_accepted_names() -> None:
    assert imu_columns(list(IMU_CHANNELS)) == ([0, 1, 2, 3, 4, 5], None, None)
    assert imu_columns(["t", "ax", "ay", "az", "wx", "wy", "wz"]) == ([1, 2, 3, 4, 5, 6], 0, None)
    assert imu_columns(["acc_x (m/s^2)", "acc_y", "acc_z", "gyro_x [rad/s]", "gyro_y", "gyro_z"])
    assert imu_columns(["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y"]) is None  # one missing
    assert imu_columns(["acc_x", "accel_x", "acc_y", "acc_z", "gx", "gy", "gz"]) is None  # twice


# --- npy ------------------------------------------------------------------------------------------


def test_npy_channel_major_and_time_major() -> None:
    samples = motion(1000)
    channel_major = decode_imu(npy_bytes(samples.astype(np.float64)), name="a.npy")
    np.testing.assert_array_equal(channel_major.samples, samples)
    assert channel_major.sample_rate == DEFAULT_NPY_RATE
    time_major = decode_imu(npy_bytes(samples.T.copy()), name="b.npy", sample_rate=200)
    np.testing.assert_array_equal(time_major.samples, samples)  # transposed, not reshaped
    assert not np.array_equal(samples.T.copy().reshape(6, -1), samples)  # a reshape would scramble
    assert time_major.sample_rate == 200


# --- bad input (R10) ------------------------------------------------------------------------------

HEADER = ",".join(IMU_CHANNELS)
ROW = "0.1,0.2,9.8,0.01,0.02,0.03\n"
ROWS = ROW * 400

BAD_IMU: dict[str, tuple[bytes, str]] = {
    "wrong_columns.csv": (
        f"{HEADER}\n{ROWS}1,2,3\n".encode(),
        "line 402: 3 columns, the header has 6",
    ),
    "text_in_numbers.csv": (
        f"{HEADER}\n{ROW * 7}0.1,abc,9.8,0,0,0\n{ROWS}".encode(),
        "column 'acc_y': 'abc' is not a number",
    ),
    "nan.csv": (f"{HEADER}\n{ROWS}nan,0,0,0,0,0\n".encode(), "column 'acc_x': nan is not finite"),
    "inf.csv": (f"{HEADER}\n{ROWS}0,0,0,0,0,-inf\n".encode(), "'gyro_z': -inf is not finite"),
    "too_short.csv": (f"{HEADER}\n{ROW * 100}".encode(), "too few samples: 100 at 400 Hz"),
    "no_header.csv": (ROWS.encode(), "line 1: no header"),
    "wrong_header.csv": (f"a,b,c,d,e,f\n{ROWS}".encode(), "does not name the six IMU channels"),
    "backwards_time.csv": (
        (
            "t,"
            + HEADER
            + "\n"
            + "".join(f"{0.0025 * i if i != 300 else 0.1},1,2,3,4,5,6\n" for i in range(400))
        ).encode(),
        "line 302: time column 't' does not increase",
    ),
    "empty.csv": (b"", "empty file"),
    "huge_number.csv": (f"{HEADER}\n{'9' * 400},0,0,0,0,0\n{ROWS}".encode(), "9999 is not finite"),
    "huge_header.csv": (b'"' + b"a" * 200_000 + b'",b\n' + ROWS.encode(), "unreadable header"),
    "binary.csv": (b"\xff\xfe\x00garbage\x80", "not UTF-8"),
    "wrong_shape.npy": (npy_bytes(np.zeros((5, 1000), np.float32)), "shape (5, 1000)"),
    "three_d.npy": (npy_bytes(np.zeros((6, 10, 100), np.float32)), "expected (6, T) or (T, 6)"),
    "object.npy": (
        npy_bytes(np.array([[1, "a"]] * 6, dtype=object)),
        "dtype object is not a plain number type",
    ),
    "complex.npy": (npy_bytes(np.zeros((6, 1000), np.complex64)), "not a plain number type"),
    "nan.npy": (npy_bytes(np.full((6, 1000), np.nan, np.float32)), "NaN or infinity at sample 0"),
    "short.npy": (npy_bytes(np.zeros((6, 100), np.float32)), "too few samples: 100 at 400 Hz"),
    "truncated.npy": (npy_bytes(np.zeros((6, 1000), np.float32))[:1000], "truncated .npy"),
}


@pytest.mark.parametrize("name", sorted(BAD_IMU))
def test_bad_imu_is_rejected(name: str, tmp_path: Path) -> None:
    content, reason = BAD_IMU[name]
    path = tmp_path / name
    path.write_bytes(content)
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(InputError) as caught:
        decode_imu(path)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert str(caught.value).startswith(f"{path}: "), str(caught.value)
    assert reason in str(caught.value), str(caught.value)
    assert elapsed < 1.0 and peak < 16 * 2**20


def test_time_without_a_plausible_unit() -> None:
    rows = np.column_stack([np.arange(800) * 1e9, motion(800).T])  # one sample every 30 years
    with pytest.raises(InputError, match="name its unit"):
        decode_imu(csv_text(["time", *IMU_CHANNELS], rows), name="odd.csv")


def test_pickles_are_never_loaded(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = np.array([_Exploit(str(marker))] * 6, dtype=object).reshape(6, 1)
    with pytest.raises(InputError, match="dtype object"):
        decode_imu(npy_bytes(payload), name="evil.npy")
    assert not marker.exists()


class _Exploit:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return (Path.touch, (Path(self.path),))


# --- fuzzing (R15): only InputError may escape ----------------------------------------------------

_CSV_SEED = (
    "t," + HEADER + "\n" + "".join(f"{i * 0.0025},0.1,0.2,9.8,0.01,0.02,0.03\n" for i in range(250))
).encode()
_NPY_SEED = npy_bytes(motion(300).T.copy())


@st.composite
def mutated_imu(draw: st.DrawFn) -> bytes:
    content = bytearray(draw(st.sampled_from([_CSV_SEED, _NPY_SEED])))
    for _ in range(draw(st.integers(0, 6))):
        position = draw(st.integers(0, len(content) - 1))
        content[position] = draw(st.sampled_from([0, 10, 44, 45, 46, 48, 57, 97, 110, 255]))
    cut = draw(st.integers(1, len(content)))
    return bytes(content[:cut]) if draw(st.booleans()) else bytes(content)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mutated_imu(), st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_fuzzed_imu_raises_only_input_error(content: bytes) -> None:
    try:
        recording = decode_imu(content, name="fuzz.csv")
    except InputError as error:
        assert "fuzz.csv" in str(error)
        return
    assert recording.samples.shape[0] == 6 and recording.samples.dtype == np.float32
    assert np.isfinite(recording.samples).all() and recording.sample_rate > 0
