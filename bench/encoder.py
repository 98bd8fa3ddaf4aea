"""Encoder speed: our network against the reference ImageBind, on `imagebind_huge`.

Weights are random (seeded): compute cost does not depend on their values. Both networks
share the very same weight tensors, so they also run side by side in one process and
their outputs are compared (fp32 parity on the full-size architecture).

Measured, per tower and batch size (CPU):
- items/s of the reference (fp32) and ours: fp32, bf16 autocast, bf16 weights, int8
  (dynamic quantisation of every Linear, fused q/k/v included); the fast modes' fidelity
  is the mean cosine of their outputs to our fp32 outputs.
- cold start (`--cold-start`): a fresh process that builds the reference and
  `torch.load`s a `.pth`, against one that `binding.models.build`s from a `.safetensors`
  (memory-mapped); wall time and peak RSS of each.

An audio item is one recording: three 2 s clips. Times are the best of `--repeats` runs
after one warm-up run; other processes share this CPU, so ratios are what count.

    .venv/bin/python bench/encoder.py                 # everything (about 20 minutes)
    .venv/bin/python bench/encoder.py --quick         # batch 1, one run, no cold start
    .venv/bin/python bench/encoder.py --modalities vision,text --batches 1 --repeats 3

Needs the reference code under `.tools/ref` (see `tools/golden.py`).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from binding.models import ImageBind, get_spec, random_state_dict  # noqa: E402
from binding.models.quantize import quantize_int8  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "encoder.json"
TOWERS = ("vision", "text", "audio", "depth", "thermal", "imu")
SEED = 0


def _golden_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("golden_tool", ROOT / "tools" / "golden.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def inputs(tower: str, batch: int, g: torch.Generator) -> torch.Tensor:
    """One batch of network inputs, shaped as the preprocessors make them."""
    if tower == "text":
        ids = torch.randint(1, 49406, (batch, 77), generator=g)
        ids[:, 0] = 49406
        ids[:, 20] = 49407  # a 20-token caption, zero padding after
        ids[:, 21:] = 0
        return ids
    shapes = {
        "vision": (3, 224, 224),
        "audio": (3, 1, 128, 204),  # three clips per recording
        "depth": (1, 224, 224),
        "thermal": (1, 224, 224),
        "imu": (6, 2000),
        "video": (15, 3, 2, 224, 224),  # five clips x three crops
    }
    return torch.randn((batch, *shapes[tower]), generator=g)


def rss_gib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 2**20
    return float("nan")


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(F.cosine_similarity(a.float(), b.float(), dim=-1).mean())


# --- the models ---------------------------------------------------------------------------


def reference_model(state: dict[str, torch.Tensor], towers: tuple[str, ...]) -> nn.Module:
    model = _golden_tool().reference_huge("meta")
    for part in ("preprocessors", "trunks", "heads", "postprocessors"):
        modules = getattr(model, f"modality_{part}")
        for name in list(modules.keys()):
            if name not in towers:
                del modules[name]
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval().requires_grad_(False)


def our_model(state: dict[str, torch.Tensor], towers: tuple[str, ...]) -> ImageBind:
    with torch.device("meta"):
        model = ImageBind(get_spec("imagebind_huge").arch, towers)
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval().requires_grad_(False)


def run_reference(model: nn.Module, tower: str, x: torch.Tensor) -> torch.Tensor:
    key = "vision" if tower == "video" else tower
    with torch.inference_mode():
        return model({key: x})[key]


def run_ours(model: ImageBind, tower: str, x: torch.Tensor, bf16: bool = False) -> torch.Tensor:
    key = "vision" if tower == "video" else tower
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with torch.inference_mode(), autocast:
        return model.embed(key, x)


# --- throughput ---------------------------------------------------------------------------


def throughput(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Items/s of every mode, interleaved: each repeat runs all modes once, in turn.

    Interleaving spreads the noise of other processes over all modes alike; the best of
    the repeats is kept. All models live at once (fp32 weights shared with the reference).
    """
    towers = tuple(dict.fromkeys("vision" if t == "video" else t for t in args.modalities))
    started = time.perf_counter()
    state = random_state_dict(get_spec("imagebind_huge").arch, SEED, towers)
    print(f"random weights for {', '.join(towers)}: {time.perf_counter() - started:.1f} s")
    ours = our_model(state, towers)
    runs: dict[str, Callable[[str, torch.Tensor], torch.Tensor]] = {
        "ours_fp32": lambda t, x: run_ours(ours, t, x)
    }
    if not args.no_reference:
        reference = reference_model(state, towers)
        runs["reference_fp32"] = lambda t, x: run_reference(reference, t, x)
    if "bf16" in args.modes:  # autocast: fp32 weights, cast to bf16 on every call
        runs["ours_bf16"] = lambda t, x: run_ours(ours, t, x, bf16=True)
    if "bf16w" in args.modes:  # bf16 weights: half the memory, no per-call casts
        ours_bf16 = our_model({k: v.to(torch.bfloat16) for k, v in state.items()}, towers)
        runs["ours_bf16w"] = lambda t, x: run_ours(ours_bf16, t, x)
    if "int8" in args.modes:  # a second network on the same fp32 tensors, then quantised
        ours_int8 = quantize_int8(our_model(state, towers))
        runs["ours_int8"] = lambda t, x: run_ours(ours_int8, t, x)
    del state
    print(f"models ready ({', '.join(runs)}); RSS {rss_gib():.1f} GiB")

    g = torch.Generator().manual_seed(1)
    rows = []
    for tower in args.modalities:
        for batch in args.batches:
            x = inputs(tower, batch, g)
            row: dict[str, Any] = {"modality": tower, "batch": batch}
            outputs = {name: run(tower, x).float() for name, run in runs.items()}  # warm-up
            wall: dict[str, list[float]] = {name: [] for name in runs}
            cpu: dict[str, list[float]] = {name: [] for name in runs}
            for _ in range(args.repeats):
                for name, run in runs.items():
                    start, start_cpu = time.perf_counter(), time.process_time()
                    run(tower, x)
                    cpu[name].append(time.process_time() - start_cpu)
                    wall[name].append(time.perf_counter() - start)
            fp32 = outputs["ours_fp32"]
            for name in runs:
                row[f"{name}_items_s"] = batch / min(wall[name])
                row[f"{name}_cpu_items_s"] = batch / min(cpu[name])
                if name == "reference_fp32":  # parity on the full-size network
                    diff = F.normalize(outputs[name], dim=-1) - F.normalize(fp32, dim=-1)
                    row["parity_max_abs_unit"] = float(diff.abs().max())
                elif name != "ours_fp32":
                    row[f"{name}_cosine"] = cosine(outputs[name], fp32)
            if "reference_fp32" in runs:
                for name in runs:
                    if name.startswith("ours_"):
                        for clock in ("", "_cpu"):
                            ours_rate = row[f"{name}{clock}_items_s"]
                            ref_rate = row[f"reference_fp32{clock}_items_s"]
                            row[f"{name}{clock}_vs_reference"] = ours_rate / ref_rate
            rows.append(row)
            cells = ", ".join(
                f"{n} {row[f'{n}_items_s']:.3g} ({row[f'{n}_cpu_items_s']:.3g})" for n in runs
            )
            print(f"  {tower:8s} b={batch:<3d} items/s wall (cpu): {cells}", flush=True)
    print(f"peak RSS {peak_rss_gib():.1f} GiB")
    return rows


# --- cold start ---------------------------------------------------------------------------

_MEMORY = """
def memory():
    fields = {{}}
    with open("/proc/self/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmHWM", "RssAnon", "RssFile"):
                fields[name] = int(value.split()[0]) / 2**20
    return fields
"""

_REFERENCE_LOAD = (
    _MEMORY
    + """
import json, sys, time, torch
start = time.perf_counter()
sys.path.insert(0, {root!r})
import importlib.util
spec = importlib.util.spec_from_file_location("golden_tool", {tool!r})
tool = importlib.util.module_from_spec(spec); spec.loader.exec_module(tool)
module = tool.load_reference()
torch.set_num_threads({threads})
model = module.imagebind_huge(pretrained=False)  # what the reference does, then loads
model.load_state_dict(torch.load({path!r}, weights_only=True))
model.eval()
ready = time.perf_counter() - start
at_ready = memory()
with torch.inference_mode():
    model({{"text": torch.ones(1, 77, dtype=torch.long)}})
first = time.perf_counter() - start
print(json.dumps({{"ready_s": ready, "first_text_s": first, "at_ready": at_ready, "end": memory()}}))
"""
)

_OUR_LOAD = (
    _MEMORY
    + """
import json, sys, time, torch, warnings
start = time.perf_counter()
sys.path.insert(0, {root!r})
from binding.models import build
torch.set_num_threads({threads})
model = build("imagebind_huge", checkpoint={path!r})
ready = time.perf_counter() - start
at_ready = memory()
with torch.inference_mode():
    model({{"text": torch.ones(1, 77, dtype=torch.long)}})
first = time.perf_counter() - start
print(json.dumps({{"ready_s": ready, "first_text_s": first, "at_ready": at_ready, "end": memory()}}))
"""
)


@contextlib.contextmanager
def checkpoint_files(folder: Path) -> Iterator[tuple[Path, Path]]:
    from safetensors.torch import save_file

    pth, safetensors = folder / "imagebind_huge.pth", folder / "imagebind_huge.safetensors"
    state = random_state_dict(get_spec("imagebind_huge").arch, SEED)
    torch.save(state, pth)
    save_file(state, str(safetensors))
    del state
    gc.collect()
    try:
        yield pth, safetensors
    finally:
        pth.unlink(missing_ok=True)
        safetensors.unlink(missing_ok=True)


def cold_start(args: argparse.Namespace) -> dict[str, Any]:
    """Fresh processes from files in the page cache (just written): time to a ready model.

    Memory: VmHWM is the peak resident set; RssFile counts mapped file pages, which the
    kernel can drop and which several processes share; RssAnon is memory of the process's own.
    """
    tool = str(ROOT / "tools" / "golden.py")
    folder = Path(args.tmp) if args.tmp else None
    with (
        tempfile.TemporaryDirectory(dir=folder) as tmp,
        checkpoint_files(Path(tmp)) as (pth, safetensors),
    ):
        result: dict[str, Any] = {"pth_bytes": pth.stat().st_size}
        for name, script, path in (
            ("reference_pth", _REFERENCE_LOAD, pth),
            ("ours_safetensors", _OUR_LOAD, safetensors),
            ("ours_pth_mmap", _OUR_LOAD, pth),
        ):
            runs = []
            for _ in range(args.cold_repeats):
                code = script.format(
                    root=str(ROOT), tool=tool, path=str(path), threads=torch.get_num_threads()
                )
                out = subprocess.run(
                    [sys.executable, "-c", code], capture_output=True, text=True, check=True
                ).stdout
                runs.append(json.loads(out.strip().splitlines()[-1]))
            best = min(runs, key=lambda r: r["ready_s"])
            result[name] = best
            mem = best["at_ready"]
            print(
                f"  {name:18s} ready {best['ready_s']:6.1f} s, first embedding "
                f"{best['first_text_s']:6.1f} s; at ready: anon {mem['RssAnon']:.1f} GiB, "
                f"file {mem['RssFile']:.1f} GiB; peak RSS {best['end']['VmHWM']:.1f} GiB"
            )
        reference = result["reference_pth"]["ready_s"]
        for name in ("ours_safetensors", "ours_pth_mmap"):
            result[f"{name}_speedup"] = reference / result[name]["ready_s"]
    return result


# --- report -------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
    }


def print_table(rows: list[dict[str, Any]], clock: str) -> None:
    """`clock`: "" for wall-clock rates, "_cpu" for rates by process CPU time."""
    modes = ("ours_fp32", "ours_bf16", "ours_bf16w", "ours_int8")
    modes = tuple(m for m in modes if any(f"{m}_items_s" in r for r in rows))
    title = "process CPU time" if clock else "wall clock"
    print(f"\nitems/s by {title}; (x reference fp32) [mean cosine to our fp32]")
    print(
        f"{'modality':9s}{'batch':>6s}{'ref fp32':>10s}" + "".join(f"{m[5:]:>24s}" for m in modes)
    )
    for r in rows:
        ref = r.get(f"reference_fp32{clock}_items_s", float("nan"))
        line = f"{r['modality']:9s}{r['batch']:>6d}{ref:>10.3g}"
        for m in modes:
            value = r.get(f"{m}{clock}_items_s")
            ratio = r.get(f"{m}{clock}_vs_reference")
            cos = r.get(f"{m}_cosine")
            cell = "-" if value is None else f"{value:.3g}"
            cell += f" (x{ratio:.2f})" if ratio else ""
            cell += f" [{cos:.4f}]" if cos is not None else ""
            line += f"{cell:>24s}"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description="Encoder speed: ours vs the reference.")
    parser.add_argument("--modalities", default=",".join(TOWERS), help="comma-separated; video too")
    parser.add_argument("--batches", default="1,8", help="comma-separated batch sizes")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs after a warm-up")
    parser.add_argument("--modes", default="bf16,bf16w,int8", help="fast modes to measure")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument(
        "--threads", type=int, help="torch threads (default: torch's); 1 is steadier on a busy CPU"
    )
    parser.add_argument("--cold-start", dest="cold", action="store_true", default=None)
    parser.add_argument("--no-cold-start", dest="cold", action="store_false")
    parser.add_argument("--cold-repeats", type=int, default=1)
    parser.add_argument("--cold-only", action="store_true", help="skip the throughput part")
    parser.add_argument("--tmp", help="folder for the cold-start checkpoints (needs ~10 GB)")
    parser.add_argument("--quick", action="store_true", help="batch 1, one run, no cold start")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.modalities = [m.strip() for m in args.modalities.split(",") if m.strip()]
    args.batches = [int(b) for b in args.batches.split(",")]
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if args.quick:
        args.batches, args.repeats = [1], 1
        args.cold = False if args.cold is None else args.cold
    elif args.cold is None:
        args.cold = True
    warnings.simplefilter("ignore")  # torch.ao deprecation notices
    if args.threads:
        torch.set_num_threads(args.threads)
    report: dict[str, Any] = {
        "benchmark": "encoder",
        "format_version": 1,
        "model": "imagebind_huge (random weights, seed 0)",
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "machine": machine(),
        "repeats": args.repeats,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if not args.cold_only:
        rows = throughput(args)
        report["throughput"] = rows
        print_table(rows, "")
        print_table(rows, "_cpu")
    if args.cold or args.cold_only:
        gc.collect()
        print("\ncold start")
        report["cold_start"] = cold_start(args)
    if args.cold_only and args.out.is_file():  # keep the throughput of an earlier run
        earlier = json.loads(args.out.read_text())
        earlier["cold_start"] = report["cold_start"]
        earlier["cold_start_command"] = report["command"]
        report = earlier
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
