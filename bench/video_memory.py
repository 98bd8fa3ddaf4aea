"""Video ingest memory and hostile videos: peak RSS against a video's length, time to reject.

Measured, each in a fresh child process (the embedded engine, `imagebind_tiny`, one torch
thread, a new data folder):
- `peak_rss`: the process's peak resident memory (`ru_maxrss`) after ingesting one video, and
  `after_load` the same just before the ingest (the engine built and warmed up on a 2 s
  video), so `ingest_growth` = peak - after_load is what the video itself cost;
- for a 10 s video and a 2-hour one (default; `--hours`), both 64 x 48 H.264 at 1 fps, so
  decoding is cheap and the run is spent on windows (720 of them for 2 hours). The goal of
  issue 10: the 2-hour peak within 1.5x of the 10 s one;
- time to reject each hostile video, in one warmed-up child: a 20-frame MP4 whose `stts`
  claims 2^31 frames (the 2 KB file that grew to 6.8 GB before), the same with a frame
  duration of 2^31 - 1 ticks (a declared length of weeks), and the 2-hour video with
  `BINDING_VIDEO_MAX_SECONDS=3600` (a real stream over the cap). Goal: each under 5 s.

    .venv/bin/python bench/video_memory.py                 # ~2 min here
    .venv/bin/python bench/video_memory.py --hours 0.5     # quicker

Writes bench/results/video_memory.json (or --out) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import av
import numpy as np

ENV = {
    "BINDING_MODEL": "imagebind_tiny",
    "BINDING_SEED": "0",
    "BINDING_DEVICE": "cpu",
    "BINDING_OFFLINE": "true",
    "OMP_NUM_THREADS": "1",
}

# The child: warm up on a 2 s video, then ingest each file given, timing it; prints JSON.
CHILD = """
import json, resource, sys, time, warnings
import torch
torch.set_num_threads(1)
from binding.api import Engine
from binding.config import Settings
warnings.simplefilter("ignore")
def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
rows = []
with Engine(Settings()) as engine:
    (warm,) = engine.ingest([sys.argv[1]]).files
    assert warm.status == "embedded", warm
    after_load = peak()
    for name in sys.argv[2:]:
        started = time.perf_counter()
        (outcome,) = engine.ingest([name]).files
        rows.append({"file": name, "status": outcome.status, "reason": outcome.reason,
                     "points": outcome.points, "seconds": time.perf_counter() - started,
                     "after_load": after_load, "peak_rss": peak()})
print(json.dumps(rows))
"""


def make_video(seconds: int, *, fps: int = 1, width: int = 64, height: int = 48) -> bytes:
    """An H.264 MP4 whose frames all differ (brightness and a moving bar)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for index in range(seconds * fps):
            pixels = np.full((height, width, 3), (index * 37) % 256, np.uint8)
            pixels[:, : (index % width)] = 255 - pixels[0, 0]
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def patch_stts(data: bytes, *, count: int | None = None, delta: int | None = None) -> bytes:
    """The MP4 with its single stts entry claiming `count` frames of `delta` ticks."""
    at = data.index(b"stts")
    _, old_count, old_delta = struct.unpack(">III", data[at + 8 : at + 20])
    patched = bytearray(data)
    patched[at + 12 : at + 20] = struct.pack(">II", count or old_count, delta or old_delta)
    return bytes(patched)


def run_child(folder: Path, files: list[Path], extra_env: dict[str, str]) -> list[dict[str, Any]]:
    """Ingest `files` in a fresh process over a new data folder under `folder`."""
    folder.mkdir(parents=True)
    env = os.environ | ENV | {"BINDING_DATA_DIR": str(folder / "data")} | extra_env
    env["BINDING_CACHE_DIR"] = str(folder / "cache")
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder.parent / "warm.mp4"), *map(str, files)],
        capture_output=True,
        text=True,
        env=env,
        cwd=folder,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"child failed:\n{result.stderr[-3000:]}")
    rows: list[dict[str, Any]] = json.loads(result.stdout.strip().splitlines()[-1])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=2.0, help="length of the long video")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "video_memory.json"
    )
    args = parser.parse_args()
    long_s = int(args.hours * 3600)
    results: dict[str, Any] = {
        "machine": {
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "loadavg_at_start": os.getloadavg(),
        },
        "settings": {"hours": args.hours, "model": "imagebind_tiny", "video": "64x48 H.264 1 fps"},
    }
    with tempfile.TemporaryDirectory(prefix="bench-video-") as tmp:
        folder = Path(tmp)
        (folder / "warm.mp4").write_bytes(make_video(2))
        short, long = folder / "short_10s.mp4", folder / f"long_{long_s}s.mp4"
        short.write_bytes(make_video(10))
        started = time.perf_counter()
        long.write_bytes(make_video(long_s))
        results["long_video_made_s"] = round(time.perf_counter() - started, 2)
        twenty = make_video(20)
        hostile = {
            "stts claims 2^31 frames": patch_stts(twenty, count=2**31),
            "stts frame duration 2^31-1 ticks": patch_stts(twenty, delta=2**31 - 1),
        }
        paths = []
        for index, data in enumerate(hostile.values()):
            paths.append(folder / f"hostile{index}.mp4")
            paths[-1].write_bytes(data)

        memory = []
        for label, path in (("10 s", short), (f"{args.hours:g} h", long)):
            (row,) = run_child(folder / label.replace(" ", ""), [path], {})
            row["video"] = label
            row["file_bytes"] = path.stat().st_size
            memory.append(row)
            print(f"{label}: {json.dumps(row)}", file=sys.stderr)
        hostile_rows = run_child(folder / "hostile", paths, {})
        (capped,) = run_child(folder / "capped", [long], {"BINDING_VIDEO_MAX_SECONDS": "3600"})
        names = [*hostile, f"real {args.hours:g} h stream, BINDING_VIDEO_MAX_SECONDS=3600"]
        for name, row in zip(names, [*hostile_rows, capped], strict=True):
            row["video"] = name
        results["memory"] = memory
        results["hostile"] = [*hostile_rows, capped]
    short_peak, long_peak = memory[0]["peak_rss"], memory[1]["peak_rss"]
    results["peak_ratio"] = round(long_peak / short_peak, 3)
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")

    mib = 2**20
    print("| video | outcome | points | wall s | RSS after load MiB | peak RSS MiB | growth MiB |")
    print("|---|---|---|---|---|---|---|")
    for row in memory:
        growth = (row["peak_rss"] - row["after_load"]) / mib
        print(
            f"| {row['video']} | {row['status']} | {row['points']} | {row['seconds']:.1f} | "
            f"{row['after_load'] / mib:.0f} | {row['peak_rss'] / mib:.0f} | {growth:.0f} |"
        )
    print(f"\npeak RSS, {args.hours:g} h / 10 s: {results['peak_ratio']:.3f} (goal: within 1.5)\n")
    print("| hostile video | outcome | seconds to reject | reason |")
    print("|---|---|---|---|")
    for row in results["hostile"]:
        print(f"| {row['video']} | {row['status']} | {row['seconds']:.3f} | {row['reason']} |")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
