"""Regenerate the golden fixtures, with the reference ImageBind code as the oracle.

Writes, under `tests/fixtures/`:
- `golden/imagebind_tiny.npz` and `.json`: the reference `imagebind_tiny` network, loaded
  (strictly) with `binding.models.random_state_dict(tiny, seed)`, run on seeded inputs for
  all six towers (batches of 2, the vision clip path `(B, S, 3, 2, 224, 224)`, a 280 px
  image that resamples the positions, audio clips `(B, 3, 1, 128, 204)`). It stores the
  outputs (raw, as the reference returns them, and unit-normalised), the seed and the
  sha256 of the weights and of every input; the tests regenerate weights and inputs from
  the seed and check those hashes before comparing.
- `imagebind_huge_keys.json`: key -> shape of the reference `imagebind_huge` state dict
  (built on the meta device, so no memory is spent).

Getting the reference (CC BY-NC-SA 4.0: an oracle for tools and tests, never copied into
`binding/`), from the repository root:

    .venv/bin/python -m pip download --no-deps imagebind-unofficial==0.1.1 -d .tools/wheels
    unzip -o .tools/wheels/imagebind_unofficial-0.1.1-py3-none-any.whl -d .tools/ref
    .venv/bin/python -m pip install --no-deps --target .tools/pylib einops

Then run it:

    .venv/bin/python tools/golden.py            # --seed N, --out DIR

The reference's `imagebind/__init__.py` imports `data.py` (torchaudio, torchvision,
pytorchvideo), so only `imagebind.models.*` is imported, under a stand-in package; `timm`
(needs torchvision) and `iopath` (only used by the tokenizer) get stand-in modules here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
REF_DIR = ROOT / ".tools" / "ref"
PYLIB_DIR = ROOT / ".tools" / "pylib"  # einops, installed for the tools only
FIXTURES = ROOT / "tests" / "fixtures"
FORMAT_VERSION = 1
DEFAULT_SEED = 0

#: `ImageBindModel(...)` arguments of `imagebind_tiny` (the keyword arguments of `imagebind_huge` in upstream
#: facebookresearch/ImageBind `imagebind/models/imagebind_model.py`, scaled down).
TINY_REFERENCE_ARGS: dict[str, int] = {"out_embed_dim": 32} | {
    f"{m}_{arg}": value
    for m in ("vision", "text", "audio", "depth", "thermal", "imu")
    for arg, value in (("embed_dim", 32), ("num_blocks", 2), ("num_heads", 2))
}


# --- the reference, imported without its package __init__ ---------------------------------


def _stand_in_modules() -> None:
    class DropPath(nn.Module):
        def __init__(self, drop_prob: float = 0.0) -> None:
            super().__init__()
            self.drop_prob = drop_prob

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if not self.training or self.drop_prob == 0.0:
                return x
            keep = 1 - self.drop_prob
            mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
            return x * mask / keep

    def trunc_normal_(
        tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0
    ) -> torch.Tensor:
        return nn.init.trunc_normal_(tensor, mean, std, a, b)

    timm = types.ModuleType("timm")
    layers = types.ModuleType("timm.layers")
    layers.DropPath = DropPath  # type: ignore[attr-defined]
    layers.trunc_normal_ = trunc_normal_  # type: ignore[attr-defined]
    timm.layers = layers  # type: ignore[attr-defined]
    sys.modules.setdefault("timm", timm)
    sys.modules.setdefault("timm.layers", layers)

    class _PathManager:
        @staticmethod
        def open(path: str, mode: str = "r") -> Any:
            return open(path, mode)  # noqa: SIM115

    file_io = types.ModuleType("iopath.common.file_io")
    file_io.g_pathmgr = _PathManager()  # type: ignore[attr-defined]
    for name in ("iopath", "iopath.common"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules.setdefault("iopath.common.file_io", file_io)


def load_reference() -> types.ModuleType:
    """The reference `imagebind.models.imagebind_model` module."""
    if not (REF_DIR / "imagebind" / "models" / "imagebind_model.py").is_file():
        raise SystemExit(f"reference code not found under {REF_DIR}; see this tool's docstring")
    for path in (REF_DIR, PYLIB_DIR):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    try:
        import einops  # noqa: F401
    except ImportError:
        raise SystemExit(
            "einops is needed by the reference: "
            ".venv/bin/python -m pip install --no-deps --target .tools/pylib einops"
        ) from None
    _stand_in_modules()
    if "imagebind" not in sys.modules:  # a bare package: skip imagebind/__init__.py
        package = types.ModuleType("imagebind")
        package.__path__ = [str(REF_DIR / "imagebind")]
        sys.modules["imagebind"] = package
    import importlib

    return importlib.import_module("imagebind.models.imagebind_model")


def reference_tiny() -> nn.Module:
    module = load_reference()
    return module.ImageBindModel(**TINY_REFERENCE_ARGS).eval()


def reference_huge(device: str | torch.device = "meta") -> nn.Module:
    """The reference `imagebind_huge` without weights on `device` ("meta": shapes only).

    Load weights with `load_state_dict(state, strict=True, assign=True)`.
    """
    module = load_reference()
    linspace = torch.linspace

    def linspace_on_cpu(*args: Any, **kwargs: Any) -> torch.Tensor:
        # its drop-path schedule calls `.item()`, which meta tensors cannot answer
        kwargs["device"] = "cpu"
        return linspace(*args, **kwargs)

    torch.linspace = linspace_on_cpu  # type: ignore[assignment]
    try:
        with torch.device(device):
            return module.imagebind_huge(pretrained=False).eval()
    finally:
        torch.linspace = linspace  # type: ignore[assignment]


# --- inputs and hashes, shared with the tests ----------------------------------------------


def golden_inputs(seed: int) -> dict[str, tuple[str, torch.Tensor]]:
    """Case name -> (tower, input). Deterministic for a seed (torch's CPU generator)."""
    g = torch.Generator().manual_seed(seed)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=g)

    ids = torch.zeros(3, 77, dtype=torch.long)
    for row, length in enumerate((5, 23, 77)):  # SOT, words, EOT; the last fills the context
        words = torch.randint(1, 49406, (length - 2,), generator=g)
        ids[row, :length] = torch.cat((torch.tensor([49406]), words, torch.tensor([49407])))
    return {
        "vision": ("vision", randn(2, 3, 224, 224)),
        "vision_clips": ("vision", randn(2, 2, 3, 2, 224, 224)),
        "vision_280px": ("vision", randn(1, 3, 280, 280)),
        "text": ("text", ids),
        "audio": ("audio", randn(2, 3, 1, 128, 204)),
        "depth": ("depth", randn(2, 1, 224, 224)),
        "thermal": ("thermal", randn(2, 1, 224, 224)),
        "imu": ("imu", randn(2, 6, 2000)),
    }


def tensor_sha256(tensor: torch.Tensor) -> str:
    array = tensor.detach().cpu().contiguous().numpy()
    header = f"{array.dtype.str}{array.shape}".encode()
    return hashlib.sha256(header + array.tobytes()).hexdigest()


def state_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 over keys (sorted), dtypes, shapes and bytes of a state dict."""
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode() + b"\0" + tensor_sha256(state[key]).encode())
    return digest.hexdigest()


# --- writing the fixtures ------------------------------------------------------------------


def write_tiny_golden(seed: int, out: Path) -> None:
    from binding.models import get_spec
    from binding.models.random_init import random_state_dict

    spec = get_spec("imagebind_tiny")
    state = random_state_dict(spec.arch, seed)
    model = reference_tiny()
    model.load_state_dict(state, strict=True)
    arrays: dict[str, np.ndarray] = {}
    cases: dict[str, dict[str, Any]] = {}
    with torch.no_grad():
        for case, (tower, x) in golden_inputs(seed).items():
            raw = model({tower: x})[tower]
            arrays[f"{case}.raw"] = raw.numpy()
            arrays[f"{case}.unit"] = F.normalize(raw, dim=-1).numpy()
            cases[case] = {
                "tower": tower,
                "input_shape": list(x.shape),
                "input_sha256": tensor_sha256(x),
                "output_shape": list(raw.shape),
            }
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "imagebind_tiny.npz", **arrays)
    meta = {
        "format_version": FORMAT_VERSION,
        "model": spec.name,
        "reference": "imagebind-unofficial 0.1.1 (= facebookresearch/ImageBind)",
        "reference_args": TINY_REFERENCE_ARGS,
        "seed": seed,
        "state_sha256": state_sha256(state),
        "torch": torch.__version__,
        "cases": cases,
    }
    (out / "imagebind_tiny.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {out / 'imagebind_tiny.npz'} ({len(arrays)} arrays)")


def write_huge_keys(path: Path) -> None:
    state = reference_huge("meta").state_dict()
    keys = {key: list(t.shape) for key, t in state.items()}
    meta = {
        "format_version": FORMAT_VERSION,
        "model": "imagebind_huge",
        "num_keys": len(keys),
        "num_elements": sum(int(np.prod(s)) for s in keys.values()),
        "keys": keys,
    }
    # one key per line: readable diffs, no line per dimension
    lines = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in keys.items()]
    head = json.dumps({k: v for k, v in meta.items() if k != "keys"}, indent=1)[:-2]
    path.write_text(head + ',\n "keys": {\n' + ",\n".join(lines) + "\n }\n}\n")
    print(f"wrote {path} ({meta['num_keys']} keys, {meta['num_elements']:,} elements)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, default=FIXTURES)
    args = parser.parse_args()
    torch.set_num_threads(1)  # the reference run is small; one thread makes it repeatable
    write_tiny_golden(args.seed, args.out / "golden")
    write_huge_keys(args.out / "imagebind_huge_keys.json")


if __name__ == "__main__":
    main()
