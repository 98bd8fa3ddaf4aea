"""IMU recordings from CSV tables and `.npy` arrays: six channels, time along the last axis.

Channel order is ImageBind's (Ego4D's): accelerometer x, y, z then gyroscope x, y, z. Units
are not published; we expect what Ego4D records: m/s^2 for acceleration, rad/s for angular
velocity. Values are not normalised.

CSV: a header line names the columns; rows are samples. The six channels may come in any
order under any of these names (case, spaces, `_`, `-`, `.` and a unit in brackets such as
`acc_x (m/s^2)` are ignored):

- accelerometer: `acc_x`, `accl_x` (Ego4D's exports), `accel_x`, `acce_x`, `accelerometer_x`,
  `acceleration_x`, `user_acceleration_x`, `ax`, `a_x`, `accX`...
- gyroscope: `gyro_x`, `gyr_x`, `gyroscope_x`, `angular_velocity_x`, `ang_vel_x`,
  `rotation_rate_x`, `gx`, `g_x`, `wx`, `w_x`, `gyroX`...

So `accl_x [m/s^2]`, `Accel X (m/s²)`, `ax` and `gyr_x` all name a channel.

An optional time column gives the sample rate (median step). Its unit comes from its name:
`time_s`/`seconds`/`sec` (s), `time_ms`/`ms`/`millis` (ms), `time_us`/`us` (us), `time_ns`/`ns`
(ns); a bare `t`, `time`, `timestamp` or `ts` is read in whichever of s, ms, us or ns gives a
rate between 10 Hz and 10 kHz. Time must increase strictly; jittery timestamps (steps more
than 5% off the median) are resampled onto a uniform grid by linear interpolation. Other
columns (magnetometer, temperature...) are ignored. Lines starting with `#` are comments;
comma, tab and semicolon delimiters are accepted.

`.npy`: a 2-D numeric array (6, T) or (T, 6); a time-major table is transposed, never
reshaped. Pickled (object) arrays are refused. Its rate is `sample_rate`, by default
`DEFAULT_NPY_RATE` (400 Hz, ImageBind's IMU rate).
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from binding.errors import InputError
from binding.io.files import csv_delimiter, read_media, source_name
from binding.io.npy import is_npy, load_npy

#: Channel order of the network input (ImageBind / Ego4D).
IMU_CHANNELS: tuple[str, ...] = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
#: Rate assumed for a `.npy` array when no `sample_rate` is given: ImageBind's 400 Hz.
DEFAULT_NPY_RATE = 400.0
#: Shortest recording accepted, in seconds.
MIN_IMU_SECONDS = 0.5
#: Most samples (time steps) accepted: 3 hours at 400 Hz (104 MB as float32).
MAX_IMU_SAMPLES = 3 * 3600 * 400
#: Largest file read, in bytes (a CSV row of six floats and a time is ~80 bytes).
MAX_IMU_BYTES = 512 * 1024 * 1024
#: Rates a time column may imply.
MIN_IMU_RATE, MAX_IMU_RATE = 10.0, 10_000.0

_ACC_PREFIXES = (
    "acc", "accl", "acce", "accel", "accelerometer", "acceleration", "useracceleration", "a",
)  # fmt: skip
_GYRO_PREFIXES = (
    "gyro", "gyr", "gyroscope", "angularvelocity", "angvel", "rotationrate", "g", "w",
)  # fmt: skip
#: The names an error shows as examples of what a header may say.
ACCEPTED_NAMES = (
    "acc_x, accl_x, accel_x, ax ... and gyro_x, gyr_x, gx ... (units in brackets allowed)"
)
_CHANNEL_NAMES: dict[str, int] = {
    prefix + axis: offset + axis_index
    for offset, prefixes in ((0, _ACC_PREFIXES), (3, _GYRO_PREFIXES))
    for prefix in prefixes
    for axis_index, axis in enumerate("xyz")
}
_TIME_UNITS: dict[str, float | None] = {
    **dict.fromkeys(("t", "time", "timestamp", "ts"), None),  # unit inferred from the steps
    **dict.fromkeys(("s", "sec", "secs", "seconds", "times", "timesec", "timestamps", "tsec"), 1.0),
    **dict.fromkeys(("ms", "millis", "milliseconds", "timems", "timestampms", "tms"), 1e-3),
    # Ego4D's IMU exports: `component_timestamp_ms` (the device's clock) comes first
    **dict.fromkeys(("componenttimestampms", "canonicaltimestampms"), 1e-3),
    **dict.fromkeys(("us", "micros", "microseconds", "timeus", "timestampus", "tus"), 1e-6),
    **dict.fromkeys(("ns", "nanos", "nanoseconds", "timens", "timestampns", "tns"), 1e-9),
}
_UNIT_IN_BRACKETS = re.compile(r"[\(\[\{].*?[\)\]\}]")


@dataclass(frozen=True)
class ImuRecording:
    """Six IMU channels sampled uniformly: acc x, y, z (m/s^2), gyro x, y, z (rad/s)."""

    samples: np.ndarray  # (6, T) float32
    sample_rate: float
    source: str | None = None  # what errors call the file
    start_s: float = 0.0  # time of the first sample (from a time column; else 0)

    @property
    def duration_s(self) -> float:
        return self.samples.shape[1] / self.sample_rate


def _normalise_name(column: str) -> str:
    column = _UNIT_IN_BRACKETS.sub("", column.strip().strip("\"'").lower())
    return re.sub(r"[^a-z0-9]", "", column)


def _time_unit(column: str) -> tuple[bool, float | None]:
    """(is a time column, seconds per unit or None when the unit must be inferred)."""
    raw = column.strip().strip("\"'").lower()
    bracket = _UNIT_IN_BRACKETS.search(raw)
    key = _normalise_name(column)
    if key not in _TIME_UNITS:
        return False, None
    if bracket:  # "time (ms)"
        unit = re.sub(r"[^a-z]", "", bracket.group(0))
        if unit in _TIME_UNITS and _TIME_UNITS[unit] is not None:
            return True, _TIME_UNITS[unit]
    return True, _TIME_UNITS[key]


def imu_columns(header: list[str]) -> tuple[list[int], int | None, float | None] | None:
    """Where the six channels (in network order) and the time column are in a CSV header.

    Returns (column of each channel, time column or None, seconds per time unit or None if to
    be inferred), or None if the header does not name all six channels exactly once.
    """
    channels: dict[int, int] = {}
    time_column, time_scale = None, None
    for position, column in enumerate(header):
        key = _normalise_name(column)
        if key in _CHANNEL_NAMES:
            channel = _CHANNEL_NAMES[key]
            if channel in channels:
                return None
            channels[channel] = position
            continue
        is_time, scale = _time_unit(column)
        if is_time and time_column is None:
            time_column, time_scale = position, scale
    if len(channels) != len(IMU_CHANNELS):
        return None
    return [channels[i] for i in range(len(IMU_CHANNELS))], time_column, time_scale


def _read_bytes(source: Path | str | bytes, label: str) -> bytes:
    return read_media(source, name=label, max_bytes=MAX_IMU_BYTES)


def decode_imu(
    source: Path | str | bytes,
    *,
    name: str | None = None,
    sample_rate: float | None = None,
    max_samples: int = MAX_IMU_SAMPLES,
) -> ImuRecording:
    """Read an IMU recording from a CSV table or a `.npy` array (see the module docstring).

    `sample_rate` (Hz) overrides a CSV's time column and sets a `.npy` array's rate (default
    400 Hz). Raises `InputError` naming the file (and the row or column where it helps) for a
    missing header or channel, a row with the wrong number of columns, text in a number,
    NaN or infinity, time that does not increase, a wrong array shape or dtype, fewer than
    `MIN_IMU_SECONDS` of data, or more than `max_samples` samples.
    """
    label = source_name(source, name)
    if sample_rate is not None and not (math.isfinite(sample_rate) and sample_rate > 0):
        raise ValueError(f"sample_rate must be a positive number of Hz, got {sample_rate}")
    content = _read_bytes(source, label)
    if is_npy(content):
        recording = _decode_npy(content, label, sample_rate or DEFAULT_NPY_RATE, max_samples)
    else:
        recording = _decode_csv(content, label, sample_rate, max_samples)
    if recording.duration_s < MIN_IMU_SECONDS or recording.samples.shape[1] < 2:
        raise InputError(
            label,
            f"too few samples: {recording.samples.shape[1]} at {recording.sample_rate:g} Hz "
            f"({recording.duration_s:.3f} s); at least {MIN_IMU_SECONDS} s is needed",
        )
    return recording


def _decode_npy(content: bytes, label: str, rate: float, max_samples: int) -> ImuRecording:
    # load_npy checks the header before allocating and refuses object (pickled) dtypes
    array = load_npy(content, name=label, max_elements=len(IMU_CHANNELS) * max_samples)
    if array.ndim != 2 or len(IMU_CHANNELS) not in array.shape:
        raise InputError(label, f"array of shape {array.shape}; expected (6, T) or (T, 6)")
    if array.shape[0] != 6:
        array = array.T  # time-major table (T, 6): transpose, never reshape
    samples = np.ascontiguousarray(array, dtype=np.float32)  # (6, T)
    bad = ~np.isfinite(samples)
    if bad.any():
        channel, step = (int(i[0]) for i in np.nonzero(bad))
        raise InputError(
            label, f"NaN or infinity at sample {step}, channel {IMU_CHANNELS[channel]}"
        )
    return ImuRecording(samples, float(rate), label)


def _decode_csv(
    content: bytes, label: str, sample_rate: float | None, max_samples: int
) -> ImuRecording:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(
            label, f"not UTF-8 text at byte {error.start} (nor a .npy array)"
        ) from None
    lines = [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        raise InputError(label, "no header and no data")
    header_number, header_line = lines[0]
    delimiter = csv_delimiter(header_line) or ","
    try:
        header = next(csv.reader([header_line], delimiter=delimiter))
    except csv.Error as error:
        raise InputError(label, f"line {header_number}: unreadable header ({error})") from None
    found = imu_columns(header)
    if found is None:
        shown = [name[:30] for name in header[:10]] + (["..."] if len(header) > 10 else [])
        what = "no header" if _looks_numeric(header) else f"header {shown} does not name"
        raise InputError(
            label,
            f"line {header_number}: {what} the six IMU channels "
            f"({', '.join(IMU_CHANNELS)}; see binding.io.imu for accepted names)",
        )
    channel_columns, time_column, time_scale = found
    if len(lines) - 1 > max_samples:
        raise InputError(label, f"{len(lines) - 1:,} rows, over the limit of {max_samples:,}")
    wanted = channel_columns + ([time_column] if time_column is not None else [])
    values = np.empty((len(lines) - 1, len(wanted)), dtype=np.float64)
    # Data rows are numbers: split each line on its own (no quoted fields spanning lines).
    for row_index, (number, line) in enumerate(lines[1:]):
        row = line.split(delimiter)
        if len(row) != len(header):
            raise InputError(
                label, f"line {number}: {len(row)} columns, the header has {len(header)}"
            )
        for slot, column in enumerate(wanted):
            field = row[column].strip().strip("\"'")
            try:
                value = float(field)
            except ValueError:
                raise InputError(
                    label,
                    f"line {number}, column {header[column]!r}: {field[:40]!r} is not a number",
                ) from None
            if not math.isfinite(value):
                raise InputError(
                    label, f"line {number}, column {header[column]!r}: {field[:40]} is not finite"
                )
            values[row_index, slot] = value
    samples = values[:, :6].T  # (6, T)
    rate, start = sample_rate, 0.0
    if time_column is not None and len(values) >= 2:
        line_numbers = [number for number, _ in lines[1:]]
        unit = _check_time(values[:, 6], time_scale, header[time_column], line_numbers, label)
        seconds = values[:, 6] * unit
        start = float(seconds[0])
        if sample_rate is None:
            samples, rate = _uniform(samples, seconds, max_samples, label)
    return ImuRecording(
        np.ascontiguousarray(samples, dtype=np.float32),
        float(rate if rate is not None else DEFAULT_NPY_RATE),
        label,
        start,
    )


def _looks_numeric(fields: list[str]) -> bool:
    try:
        [float(field) for field in fields]
    except ValueError:
        return False
    return True


def _check_time(
    times: np.ndarray, scale: float | None, column: str, line_numbers: list[int], label: str
) -> float:
    """Seconds per unit of a strictly increasing time column."""
    steps = np.diff(times)
    bad = np.nonzero(steps <= 0)[0]
    if bad.size:
        number = line_numbers[int(bad[0]) + 1]
        raise InputError(label, f"line {number}: time column {column!r} does not increase")
    if scale is not None:
        return scale
    step = float(np.median(steps))
    for unit in (1.0, 1e-3, 1e-6, 1e-9):
        if MIN_IMU_RATE <= 1.0 / (step * unit) <= MAX_IMU_RATE:
            return unit
    raise InputError(
        label,
        f"time column {column!r} steps by {step:g}, which gives no rate between "
        f"{MIN_IMU_RATE:g} Hz and {MAX_IMU_RATE:g} Hz in s, ms, us or ns; "
        "name its unit (time_s, time_ms, time_us, time_ns) or pass sample_rate",
    )


def _uniform(
    samples: np.ndarray, seconds: np.ndarray, max_samples: int, label: str
) -> tuple[np.ndarray, float]:
    """Samples on a uniform time grid and its rate; jittery timestamps are interpolated."""
    steps = np.diff(seconds)
    median = float(np.median(steps))
    if np.all(np.abs(steps - median) <= 0.05 * median):
        return samples, (len(seconds) - 1) / float(seconds[-1] - seconds[0])
    rate = 1.0 / median
    count = int((seconds[-1] - seconds[0]) * rate) + 1
    if count > max_samples:
        raise InputError(
            label,
            f"time column spans {seconds[-1] - seconds[0]:,.1f} s at {rate:g} Hz: "
            f"{count:,} samples, over the limit of {max_samples:,}",
        )
    grid = seconds[0] + np.arange(count) / rate
    return np.stack([np.interp(grid, seconds, channel) for channel in samples]), rate
