"""`python -m binding.world OUT --n N --seed S [--split train] [--modalities image,audio,...]`."""

from __future__ import annotations

import argparse
import sys
import time

from binding.world.write import MODALITIES, SPLITS, write_world


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m binding.world",
        description="Write a split of the synthetic world (media files and manifests).",
    )
    parser.add_argument("out", help="folder to write into (created if needed)")
    parser.add_argument("--n", type=int, default=200, help="number of scenes (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the scenes (default 0)")
    parser.add_argument("--split", choices=SPLITS, default="train")
    parser.add_argument(
        "--modalities",
        default="image,text,audio,depth,thermal,imu",
        help=f"comma-separated, of {','.join(MODALITIES)} (default: all but video)",
    )
    args = parser.parse_args(argv)
    if args.n < 0:
        parser.error("--n must be 0 or more")
    modalities = tuple(m.strip() for m in args.modalities.split(",") if m.strip())
    unknown = [m for m in modalities if m not in MODALITIES]
    if unknown:
        parser.error(f"unknown modality {', '.join(unknown)} (known: {', '.join(MODALITIES)})")
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    start = time.perf_counter()
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task(f"{args.split} scenes", total=args.n)
        world = write_world(
            args.out,
            n=args.n,
            seed=args.seed,
            modalities=modalities,
            split=args.split,
            progress=lambda k: bar.advance(task, k),
        )
    seconds = time.perf_counter() - start
    print(f"{args.n} {args.split} scenes in {world.root} ({seconds:.1f} s)")
    for modality, path in world.pairs.items():
        print(f"  pairs {modality}: {path}")
    for modality, path in world.labels_by_modality.items():
        print(f"  labels {modality}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
