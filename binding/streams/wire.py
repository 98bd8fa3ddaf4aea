"""The wire format of a stream entry (version 1): encode and decode (see docs/streams.md)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from binding.errors import InputError
from binding.modality import Modality, parse_modality
from binding.streams.keys import (
    FRAME_MODALITIES,
    MAX_ENTRY_SAMPLES,
    MAX_FRAME_BYTES,
    MAX_FRAME_RATE,
    MIN_FRAME_RATE,
    RUN_ID,
    WIRE_VERSION,
)


@dataclass(frozen=True)
class Entry:
    """One decoded stream entry."""

    id: str  # the Redis entry id
    seq: int | None  # `n`
    kind: str  # "imu", "thermal", "depth" or "end"
    run: str
    index: int  # first sample (frame) within the run; for "end": the run's sample count
    time: float | None = None  # epoch seconds of the first sample
    rate: float | None = None
    samples: np.ndarray | None = None  # (c, 6) float32, IMU only
    frame: bytes | None = None  # frames only
    fmt: str | None = None

    @property
    def count(self) -> int:
        """Samples (frames) the entry carries."""
        if self.samples is not None:
            return int(self.samples.shape[0])
        return 1 if self.frame is not None else 0


def as_text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes | bytearray) else str(value)


def _base_fields(kind: str, run: str, index: int) -> dict[str, str | bytes]:
    if not RUN_ID.fullmatch(run):
        raise InputError(f"run {run!r}", "a run id is 1-64 letters, digits, '_', '-' or '.'")
    if index < 0:
        raise ValueError(f"a sample index is never negative, got {index}")
    return {"v": str(WIRE_VERSION), "kind": kind, "run": run, "i": str(int(index))}


def encode_imu_entry(
    run: str,
    index: int,
    time_s: float,
    rate: float,
    samples: np.ndarray,
    *,
    encoding: Literal["f32le", "json"] = "f32le",
) -> dict[str, str | bytes]:
    """Fields of an IMU entry: `samples` is (c, 6), one row per sample (acc xyz, gyro xyz)."""
    rows = np.asarray(samples, dtype=np.float32)
    if rows.ndim != 2 or rows.shape[1] != 6 or rows.shape[0] < 1:
        raise ValueError(f"IMU samples must be (count, 6), got {rows.shape}")
    fields = _base_fields("imu", run, index)
    fields.update(t=repr(float(time_s)), rate=repr(float(rate)), c=str(rows.shape[0]))
    if encoding == "f32le":
        fields.update(enc="f32le", x=rows.astype("<f4").tobytes())
    elif encoding == "json":
        fields.update(enc="json", x=json.dumps(rows.tolist()))
    else:
        raise ValueError(f"encoding must be 'f32le' or 'json', not {encoding!r}")
    return fields


def encode_frame_entry(
    modality: Modality | str,
    run: str,
    index: int,
    time_s: float,
    rate: float,
    frame: bytes,
    fmt: str,
) -> dict[str, str | bytes]:
    """Fields of a frame entry: one encoded thermal or depth frame (PNG, TIFF, JPEG or .npy)."""
    kind = parse_modality(str(modality))
    if kind not in FRAME_MODALITIES:
        raise ValueError(f"frames are thermal or depth, not {kind}")
    fields = _base_fields(kind.value, run, index)
    fields.update(t=repr(float(time_s)), rate=repr(float(rate)), fmt=fmt, x=bytes(frame))
    return fields


def encode_end_entry(run: str, total: int) -> dict[str, str | bytes]:
    """Fields of the entry that ends a run of `total` samples (frames)."""
    return _base_fields("end", run, total)


def decode_entry(stream: str, entry_id: str, fields: dict[Any, Any]) -> Entry:
    """An entry from its Redis fields; `InputError` naming the entry for anything malformed."""
    label = f"stream {stream} entry {entry_id}"
    got = {as_text(k): v for k, v in fields.items()}
    if not got:
        raise InputError(label, "the entry has no fields (deleted)")

    def number(name: str, kind: type = float) -> Any:
        if name not in got:
            raise InputError(label, f"no field {name!r}")
        try:
            value = kind(as_text(got[name]))
        except ValueError:
            raise InputError(
                label, f"field {name!r} is not a number: {as_text(got[name])!r}"
            ) from None
        if kind is float and not math.isfinite(value):
            raise InputError(label, f"field {name!r} is not finite")
        return value

    seq = number("n", int) if "n" in got else None
    version = as_text(got.get("v", ""))
    if version != str(WIRE_VERSION):
        raise InputError(
            label, f"wire format version {version!r}; this consumer reads {WIRE_VERSION}"
        )
    kind = as_text(got.get("kind", ""))
    run = as_text(got.get("run", ""))
    if not RUN_ID.fullmatch(run):
        raise InputError(label, f"bad run id {run!r}")
    index = number("i", int)
    if index < 0:
        raise InputError(label, f"negative sample index {index}")
    if kind == "end":
        return Entry(entry_id, seq, kind, run, index)
    time_s, rate = number("t"), number("rate")
    if kind == "imu":
        from binding.io.imu import MAX_IMU_RATE, MIN_IMU_RATE

        if not MIN_IMU_RATE <= rate <= MAX_IMU_RATE:
            raise InputError(
                label, f"IMU rate {rate:g} Hz is outside {MIN_IMU_RATE:g}-{MAX_IMU_RATE:g}"
            )
        count = number("c", int)
        if not 1 <= count <= MAX_ENTRY_SAMPLES:
            raise InputError(label, f"{count} samples; an entry holds 1 to {MAX_ENTRY_SAMPLES}")
        payload = got.get("x", b"")
        encoding = as_text(got.get("enc", "f32le"))
        if encoding == "f32le":
            raw = (
                bytes(payload)
                if isinstance(payload, bytes | bytearray)
                else as_text(payload).encode()
            )
            if len(raw) != count * 6 * 4:
                raise InputError(
                    label,
                    f"{len(raw)} bytes of samples; {count} samples of 6 float32 are {count * 24}",
                )
            samples = np.frombuffer(raw, dtype="<f4").reshape(count, 6).astype(np.float32)
        elif encoding == "json":
            try:
                rows = json.loads(as_text(payload))
                samples = np.asarray(rows, dtype=np.float32)
            except (ValueError, TypeError):
                raise InputError(
                    label, "samples are not a JSON list of rows of 6 numbers"
                ) from None
            if samples.shape != (count, 6):
                raise InputError(label, f"samples of shape {samples.shape}; expected ({count}, 6)")
        else:
            raise InputError(label, f"unknown sample encoding {encoding!r} (f32le or json)")
        if not np.isfinite(samples).all():
            row = int(np.nonzero(~np.isfinite(samples))[0][0])
            raise InputError(label, f"NaN or infinity in sample {index + row}")
        return Entry(entry_id, seq, kind, run, index, time_s, rate, samples=samples)
    if kind in (Modality.THERMAL.value, Modality.DEPTH.value):
        if not MIN_FRAME_RATE <= rate <= MAX_FRAME_RATE:
            raise InputError(
                label, f"frame rate {rate:g} is outside {MIN_FRAME_RATE:g}-{MAX_FRAME_RATE:g}"
            )
        frame = got.get("x")
        if not isinstance(frame, bytes | bytearray) or not frame:
            raise InputError(label, "no frame bytes")
        if len(frame) > MAX_FRAME_BYTES:
            raise InputError(label, f"frame of {len(frame):,} bytes, over {MAX_FRAME_BYTES:,}")
        fmt = as_text(got.get("fmt", ""))
        return Entry(entry_id, seq, kind, run, index, time_s, rate, frame=bytes(frame), fmt=fmt)
    raise InputError(label, f"unknown entry kind {kind!r}")
