"""Sensor streams: readings flow in through Redis Streams, windows come out as points, once.

A stream is one sensor: a Redis stream `binding:stream:<id>` of timestamped readings (IMU
samples, several per entry) or frames (thermal, depth: one per entry). A producer
(`StreamProducer`, `publish_readings`, `publish_recording`) appends entries; a consumer
(`workers.streams.StreamConsumer`, what `binding worker streams` runs) cuts them into
windows, embeds each window, upserts it with the stream id and its time span, and
acknowledges the entries only after the upsert returned. `ingest_recording` windows a recording the same way with no Redis
at all (embedded mode), and gives the same point ids.

Wire format, version 1 (every field a Redis string; `docs/streams.md` has the full table):

| field | entries | meaning |
|---|---|---|
| `n` | all | sequence number in the stream, 0, 1, 2...; written by the producer's script |
| `v` | all | `1` (`WIRE_VERSION`) |
| `kind` | all | `imu`, `thermal`, `depth`, or `end` (a run is over) |
| `run` | all | id of the run (one recording, one sensor session) the entry belongs to |
| `i` | all | index of the entry's first sample (frame) within its run; `end`: samples in the run |
| `t` | all but `end` | seconds since the epoch of the first sample (frame) |
| `rate` | all but `end` | samples (frames) per second |
| `c`, `enc`, `x` | `imu` | sample count, `f32le` or `json`, the samples (c rows of 6: acc xyz, gyro xyz) |
| `fmt`, `x` | frames | `png`, `npy`, `tiff`, `jpeg`: one encoded frame |

Windows are cut on a grid anchored at sample 0 of each run: IMU windows of 5 s (2,000
samples at 400 Hz) every `hop` seconds (default 5 s: back to back), the last partial window
zero-padded when it holds at least 0.5 s of data (the rule of `binding.preprocess.imu`);
frames one per window. A window's identity is (stream, modality, run, first sample, end), so
a redelivered or re-published window lands on the same point id.

Delivery (see `docs/streams.md` for the reasoning):

- One consumer at a time reads a stream (a lease, `...:owner:<group>`), because a window
  spans many entries; consumers share the streams between them.
- An entry is acknowledged once every window it belongs to is stored, so after a crash the
  pending entries rebuild the unfinished windows: the next owner takes them with XAUTOCLAIM.
- An entry delivered more than `MAX_DELIVERIES` times, or one that cannot be decoded, goes to
  `binding:stream:<id>:dead` with the reason, and is acknowledged.
- Streams are bounded (`XADD MAXLEN ~`). Redis 7.0 trims unread and unacknowledged entries
  too, so the consumer counts what it never got: gaps in `n` at read time, and entries that
  XAUTOCLAIM reports deleted. At rest, `produced == processed + dropped + dead`, exactly.

The package, one concern a module:

- `keys`: stream ids, Redis key names, limits;
- `wire`: the entry format (encode, decode);
- `windows`: the window grid, IMU and frame windows;
- `embedding`: windows to points (batches, payloads);
- `replay`: recordings as entries, and embedded-mode ingest (`ingest_recording`);
- `scripts`: the Lua scripts that pair each stream command with its count, the client;
- `producer`: `StreamProducer`, `publish_readings`, `publish_recording`;
- `status`: the books, rates, dead letters;
- `tail`: a stream's recent samples, read back from its capped Redis stream for live plots.

The consumer is a worker: `workers.streams.StreamConsumer` (`binding worker streams`).
"""

from __future__ import annotations

from binding.streams.embedding import (
    EmbedResult,
    embed_windows,
)
from binding.streams.keys import (
    CONSUMERS_KEY,
    DEAD_MAXLEN,
    DEFAULT_GROUP,
    DEFAULT_MAXLEN,
    FRAME_MODALITIES,
    KEY_PREFIX,
    MAX_DELIVERIES,
    MAX_ENTRY_SAMPLES,
    MAX_FRAME_BYTES,
    MAX_FRAME_RATE,
    MIN_FRAME_RATE,
    REGISTRY_KEY,
    RUN_ID,
    SAMPLES_PER_ENTRY,
    STREAM_MODALITIES,
    WIRE_VERSION,
    StreamKeys,
    check_stream_id,
    stream_id_for,
    stream_keys,
)
from binding.streams.producer import (
    PublishReport,
    StreamProducer,
    publish_readings,
    publish_recording,
)
from binding.streams.replay import (
    Recording,
    StreamIngestReport,
    frame_format,
    ingest_recording,
    read_recording,
    recording_fields,
)
from binding.streams.scripts import (
    ACK_SCRIPT,
    CLAIM_SCRIPT,
    DEAD_SCRIPT,
    PRODUCE_SCRIPT,
    READ_SCRIPT,
    RELEASE_SCRIPT,
    RENEW_SCRIPT,
    client_for,
    connect,
)
from binding.streams.status import (
    StreamStatus,
    dead_letters,
    rates,
    stream_status,
    wait_until,
)
from binding.streams.windows import (
    FrameWindows,
    ImuWindows,
    StreamWindows,
    Window,
    WindowGrid,
    imu_window_item,
    stream_windows,
    window_identity,
)
from binding.streams.wire import (
    Entry,
    as_text,
    decode_entry,
    encode_end_entry,
    encode_frame_entry,
    encode_imu_entry,
)

__all__ = [
    "ACK_SCRIPT",
    "CLAIM_SCRIPT",
    "CONSUMERS_KEY",
    "DEAD_MAXLEN",
    "DEAD_SCRIPT",
    "DEFAULT_GROUP",
    "DEFAULT_MAXLEN",
    "EmbedResult",
    "Entry",
    "FRAME_MODALITIES",
    "FrameWindows",
    "ImuWindows",
    "KEY_PREFIX",
    "MAX_DELIVERIES",
    "MAX_ENTRY_SAMPLES",
    "MAX_FRAME_BYTES",
    "MAX_FRAME_RATE",
    "MIN_FRAME_RATE",
    "PRODUCE_SCRIPT",
    "PublishReport",
    "READ_SCRIPT",
    "REGISTRY_KEY",
    "RELEASE_SCRIPT",
    "RENEW_SCRIPT",
    "RUN_ID",
    "Recording",
    "SAMPLES_PER_ENTRY",
    "STREAM_MODALITIES",
    "StreamIngestReport",
    "StreamKeys",
    "StreamProducer",
    "StreamStatus",
    "StreamWindows",
    "WIRE_VERSION",
    "Window",
    "WindowGrid",
    "as_text",
    "check_stream_id",
    "client_for",
    "connect",
    "dead_letters",
    "decode_entry",
    "embed_windows",
    "encode_end_entry",
    "encode_frame_entry",
    "encode_imu_entry",
    "frame_format",
    "imu_window_item",
    "ingest_recording",
    "publish_readings",
    "publish_recording",
    "rates",
    "read_recording",
    "recording_fields",
    "stream_id_for",
    "stream_keys",
    "stream_status",
    "stream_windows",
    "wait_until",
    "window_identity",
]
