"""Stream ids, Redis keys and the limits every part of the stream code shares."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from binding.errors import InputError
from binding.modality import Modality

WIRE_VERSION = 1
#: Prefix of every stream key: `binding:stream:<id>`.
KEY_PREFIX = "binding:stream:"
#: Set of the ids of every stream a producer has written to.
REGISTRY_KEY = "binding:streams"
#: Sorted set of live consumers (score: last heartbeat, ms), per group.
CONSUMERS_KEY = "binding:stream-consumers:"
#: The consumer group used unless told otherwise.
DEFAULT_GROUP = "binding"
#: Modalities a stream may carry: IMU readings, or frames.
STREAM_MODALITIES = (Modality.IMU, Modality.THERMAL, Modality.DEPTH)
FRAME_MODALITIES = (Modality.THERMAL, Modality.DEPTH)
#: IMU samples per entry by default: 100 ms at 400 Hz (a 1 kB entry).
SAMPLES_PER_ENTRY = 40
#: Default stream bound, in entries: ~17 min of 400 Hz IMU (~11 MB), or 1,000 frames.
DEFAULT_MAXLEN = {Modality.IMU: 10_000, Modality.THERMAL: 1_000, Modality.DEPTH: 1_000}
#: Deliveries after which an entry is dead-lettered (the first read is delivery 1).
MAX_DELIVERIES = 3
#: Bound of each dead-letter stream, in entries.
DEAD_MAXLEN = 10_000
#: Largest entry payload accepted: samples per IMU entry, bytes per frame.
MAX_ENTRY_SAMPLES = 40_000
MAX_FRAME_BYTES = 32 * 1024 * 1024
#: Frame rates accepted (frames per second).
MIN_FRAME_RATE = 1e-3
MAX_FRAME_RATE = 1_000.0

_STREAM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
RUN_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def check_stream_id(stream: str) -> str:
    """A stream id as used in keys: 1-64 letters, digits, `_`, `-`, `.` (no `:`)."""
    if not isinstance(stream, str) or not _STREAM_ID.fullmatch(stream):
        raise InputError(
            f"stream {stream!r}",
            "a stream id is 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit",
        )
    return stream


def stream_id_for(path: Path | str) -> str:
    """A stream id made from a file name (its stem, with other characters as `_`)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(path).stem).lstrip("._-")[:64]
    return stem or "stream"


@dataclass(frozen=True)
class StreamKeys:
    """The Redis keys of one stream."""

    stream: str

    @property
    def entries(self) -> str:
        return KEY_PREFIX + self.stream

    @property
    def meta(self) -> str:
        """Hash: modality, rate, bound, version, and `produced` (entries ever added)."""
        return f"{KEY_PREFIX}{self.stream}:meta"

    @property
    def dead(self) -> str:
        """Stream of dead letters: the entry, its reason, its deliveries."""
        return f"{KEY_PREFIX}{self.stream}:dead"

    def counts(self, group: str) -> str:
        """Hash of what `group` did: next, delivered, processed, dropped, dead, windows..."""
        return f"{KEY_PREFIX}{self.stream}:counts:{group}"

    def owner(self, group: str) -> str:
        """The lease: which consumer of `group` reads this stream now."""
        return f"{KEY_PREFIX}{self.stream}:owner:{group}"


def stream_keys(stream: str) -> StreamKeys:
    return StreamKeys(check_stream_id(stream))
