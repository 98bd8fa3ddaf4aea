"""Sensor-stream benchmark: what one stream consumer sustains, and how long a reading takes
from being published to being searchable.

Starts a private `redis-server` on a free loopback port (never the shared one), and runs the
consumer (`workers.streams.StreamConsumer`, what `binding worker streams` runs) in this
process over an embedded store in a temporary folder.

  throughput   a backlog of IMU windows (and thermal frames) is published first; then one
               consumer drains it: windows/s and entries/s it sustains, from the moment it
               takes the stream to the moment nothing is left to acknowledge.
  latency      a producer replays IMU at 400 Hz in real time (40-sample entries, 10/s)
               while the consumer runs; for every window, the time from the XADD of the
               entry holding its last reading to the moment its point can be retrieved
               from the store (polled every 2 ms from another thread).

Models: `imagebind_tiny` measures the plumbing (Redis, windowing, store); `imagebind_huge`
(random weights: compute does not depend on weight values) measures a real tower. Only the
towers streams use are built.

    .venv/bin/python bench/streams.py                         # tiny and huge, ~3 min here
    .venv/bin/python bench/streams.py --models imagebind_tiny --windows 100 --latency-s 20

Results: JSON in bench/results/streams.json (or --out); a Markdown summary on stdout.
The machine's CPUs are shared with other work: read ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

RATE = 400.0
PER_ENTRY = 40


class PrivateRedis:
    """A redis-server on a free loopback port in a temporary folder; killed on exit."""

    def __init__(self, folder: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(folder), "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        import redis

        client = redis.Redis.from_url(self.url)
        for _ in range(200):
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                time.sleep(0.05)
        self.version = client.info("server")["redis_version"]

    def flush(self) -> None:
        import redis

        redis.Redis.from_url(self.url).flushall()

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


class Context:
    """What the consumer needs: model name, encoder, store, media (an Engine's parts)."""

    def __init__(self, model: str, folder: Path) -> None:
        from binding.encoder import Encoder
        from binding.media import MediaStore
        from binding.models.registry import get_spec
        from binding.store.edge import EdgeStore

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.encoder = Encoder.load(model, modalities=["imu", "thermal"], seed=0, device="cpu")
        self.model = model
        self.store = EdgeStore(folder / "store", model=model, dim=get_spec(model).embed_dim)
        self.media = MediaStore(folder / "media")

    def close(self) -> None:
        self.store.close()


def readings(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = rng.normal(0, 0.5, size=(count, 6)).astype(np.float32)
    rows[:, 2] += 9.81
    return rows


def thermal_frames(count: int, seed: int = 0) -> list[bytes]:
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (240, 320), dtype=np.uint8), mode="L").save(
            buffer, format="PNG"
        )
        out.append(buffer.getvalue())
    return out


def drain(server: PrivateRedis, context: Context, stream: str) -> dict[str, Any]:
    """Run one consumer until the stream is drained; time from taking it to the last ack."""
    from binding.streams import stream_status
    from workers.streams import StreamConsumer

    consumer = StreamConsumer(server.url, context, lease_s=30.0, block_s=0.05, read_count=400)
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    started = time.perf_counter()
    thread.start()
    took = None
    while True:
        status = stream_status(server.url, streams=[stream])[0]
        if took is None and status.owner is not None:
            took = time.perf_counter()
        if status.lag_entries == 0 and status.produced:
            break
        time.sleep(0.01)
    done = time.perf_counter()
    stop.set()
    thread.join(timeout=30)
    seconds = done - (took or started)
    return {
        "entries": status.processed,
        "windows": status.windows,
        "seconds": round(seconds, 3),
        "entries_per_s": round(status.processed / seconds, 1),
        "windows_per_s": round(status.windows / seconds, 2),
        "balanced": status.balanced,
    }


def throughput(server: PrivateRedis, context: Context, windows: int, frames: int) -> dict[str, Any]:
    import torch

    from binding.streams import StreamProducer, publish_readings

    server.flush()
    out: dict[str, Any] = {}
    publish_readings(
        server.url, "bench-imu", readings(windows * 2000), rate=RATE, maxlen=10**7, run="t1"
    )
    # the first forward pass pays one-off costs (allocations, kernels): warm up first
    context.encoder.forward_items("imu", torch.zeros(1, 6, 2000))
    out["imu"] = drain(server, context, "bench-imu")
    out["imu"]["encoder_only_windows_per_s"] = encoder_only(context, "imu", (6, 2000), windows)
    if frames:
        server.flush()
        producer = StreamProducer(server.url, "bench-cam", "thermal", rate=10.0, maxlen=10**6)
        for frame in thermal_frames(frames):
            producer.send_frame(frame)
        producer.end()
        context.encoder.forward_items("thermal", torch.zeros(1, 1, 224, 224))
        out["thermal"] = drain(server, context, "bench-cam")
        out["thermal"]["encoder_only_windows_per_s"] = encoder_only(
            context, "thermal", (1, 224, 224), frames
        )
    return out


def encoder_only(context: Context, modality: str, shape: tuple[int, ...], count: int) -> float:
    """Windows/s of the network alone, in the consumer's batch size: the ceiling. Batches
    run for at least 3 s (short timings are noise on a shared machine)."""
    import torch

    limit = context.encoder.batch_size(modality)
    items = torch.randn(min(count, limit), *shape)
    context.encoder.forward_items(modality, items)  # warm-up at this batch size
    done, started = 0, time.perf_counter()
    while done < count or time.perf_counter() - started < 3.0:
        context.encoder.forward_items(modality, items)
        done += items.shape[0]
    return round(done / (time.perf_counter() - started), 2)


def latency(server: PrivateRedis, context: Context, seconds: float) -> dict[str, Any]:
    """Real-time IMU at 400 Hz; per window, XADD of its last entry -> point retrievable."""
    import redis

    from binding.points import point_id, segment_label
    from binding.streams import SAMPLES_PER_ENTRY, WindowGrid, window_identity
    from workers.streams import StreamConsumer

    server.flush()
    total = int(seconds * RATE)
    rows = readings(total, seed=1)
    spans = [s for s in WindowGrid.for_imu(RATE).spans(total) if s[1] - s[0] == 2000]
    ids = [
        point_id(
            context.model,
            "imu",
            window_identity("live", "imu", "l1", a, b),
            segment_label(a / RATE, b / RATE),
        )
        for a, b in spans
    ]
    consumer = StreamConsumer(server.url, context, lease_s=30.0, block_s=0.05)
    stop = threading.Event()
    worker = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    worker.start()
    time.sleep(0.5)  # let it register; it takes the stream when the producer registers it
    published: dict[int, float] = {}  # entry index -> perf_counter after its XADD returned

    def produce() -> None:
        from binding.streams import StreamProducer

        producer = StreamProducer(
            redis.Redis.from_url(server.url), "live", rate=RATE, run="l1", realtime=True, batch=1
        )
        for first in range(0, total, SAMPLES_PER_ENTRY):
            producer.send(rows[first : first + SAMPLES_PER_ENTRY])
            published[first // SAMPLES_PER_ENTRY] = time.perf_counter()
        producer.end()

    producer_thread = threading.Thread(target=produce, daemon=True)
    producer_thread.start()
    found: list[float] = []
    for (_, end), pid in zip(spans, ids, strict=True):
        while not context.store.retrieve([pid], with_vectors=False):
            time.sleep(0.002)
        seen = time.perf_counter()
        entry = (end - 1) // SAMPLES_PER_ENTRY
        found.append(seen - published.get(entry, seen))
    producer_thread.join()
    stop.set()
    worker.join(timeout=30)
    ms = sorted(1000 * x for x in found[1:] or found)  # the first includes taking the stream
    return {
        "windows": len(found),
        "first_ms": round(1000 * found[0], 1),
        "p50_ms": round(statistics.median(ms), 1),
        "max_ms": round(max(ms), 1),
        "mean_ms": round(statistics.fmean(ms), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default="imagebind_tiny,imagebind_huge")
    parser.add_argument("--windows", type=int, default=200, help="IMU windows in the backlog")
    parser.add_argument("--frames", type=int, default=100, help="thermal frames in the backlog")
    parser.add_argument("--latency-s", type=float, default=40.0, help="seconds of real-time IMU")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "streams.json"
    )
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    results: dict[str, Any] = {
        "machine": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(),
            "loadavg_at_start": os.getloadavg(),
        },
        "settings": vars(args) | {"out": str(args.out)},
        "models": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-streams-") as tmp:
        server = PrivateRedis(Path(tmp))
        results["machine"]["redis"] = server.version
        try:
            for model in [m for m in args.models.split(",") if m]:
                folder = Path(tmp) / model
                context = Context(model, folder)
                try:
                    row = throughput(server, context, args.windows, args.frames)
                    row["latency"] = latency(server, context, args.latency_s)
                finally:
                    context.close()
                results["models"][model] = row
                print(f"{model}: {json.dumps(row)}", file=sys.stderr)
        finally:
            server.close()
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")

    print(
        "| model | IMU windows/s (network alone) | IMU entries/s | thermal frames/s "
        "(network alone) | latency p50 / max (ms) |"
    )
    print("|---|---|---|---|---|")
    for model, row in results["models"].items():
        imu, thermal, lat = row["imu"], row.get("thermal"), row["latency"]
        frames = (
            f"{thermal['windows_per_s']} ({thermal['encoder_only_windows_per_s']})"
            if thermal
            else "-"
        )
        print(
            f"| {model} | {imu['windows_per_s']} ({imu['encoder_only_windows_per_s']}) | "
            f"{imu['entries_per_s']} | {frames} | {lat['p50_ms']} / {lat['max_ms']} |"
        )


if __name__ == "__main__":
    main()
