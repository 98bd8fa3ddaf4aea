"""`--precision auto`: the precision this machine computes fastest without losing the answer.

Measured on a CPU without native bf16 (AVX2, no AVX-512 BF16/AMX): bf16 runs at 0.14-0.16x
the speed of fp32 (every bf16 product is emulated), int8 dynamic quantisation at 1.6-1.9x.
CPUs with AVX-512 BF16 or AMX (and ARM cores with the BF16 extension) compute bf16 natively.
On CUDA, bf16 where the GPU supports it (Ampere and later: fp32's range, so no overflow in the
attention logits), fp16 on older GPUs. fp32 stays the default until `binding eval` shows
that the fast modes keep retrieval quality.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import torch

#: What the network computes in.
Precision = Literal["fp32", "bf16", "fp16", "int8"]
#: What a user may ask for: a precision, or `auto`.
PrecisionChoice = Literal["fp32", "auto", "bf16", "fp16", "int8"]

#: /proc/cpuinfo flags that mean bf16 arithmetic in hardware (x86: AVX-512 BF16, AMX;
#: ARM: the BF16 extension of Armv8.6).
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


@dataclass(frozen=True)
class Chosen:
    """The precision `auto` chose, and why (shown by `binding doctor`)."""

    precision: Precision
    reason: str


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU's feature flags (Linux), or an empty set where the file cannot be read."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86, ARM
            return set(value.split())
    return set()


def native_bf16_flag(flags: set[str] | None = None) -> str | None:
    """The flag that shows the CPU computes bf16 natively, or None."""
    found = cpu_flags() if flags is None else flags
    return next((flag for flag in NATIVE_BF16_FLAGS if flag in found), None)


def choose_precision(device: torch.device, *, flags: set[str] | None = None) -> Chosen:
    """What `auto` means on `device` (`flags`: the CPU's, read from /proc/cpuinfo if None)."""
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return Chosen("bf16", f"{torch.cuda.get_device_name(device)} computes bf16 natively")
        return Chosen("fp16", f"{torch.cuda.get_device_name(device)} has no fast bf16")
    if device.type != "cpu":
        return Chosen("fp32", f"{device.type}: no faster precision is supported there")
    flag = native_bf16_flag(flags)
    if flag is not None:
        return Chosen("bf16", f"the CPU computes bf16 natively ({flag})")
    return Chosen(
        "int8",
        f"the CPU ({platform.machine()}, {torch.backends.cpu.get_cpu_capability()}) has no "
        "native bf16 (no AVX-512 BF16 or AMX), where bf16 runs ~7x slower than fp32; int8 "
        "runs ~1.7x faster",
    )


def resolve_precision(precision: PrecisionChoice, device: torch.device) -> Precision:
    """`precision` itself, or what `auto` means on `device`; an unknown name (`fp8`) is a
    `ConfigurationError` listing the accepted ones (it used to run as fp32, labelled fp8)."""
    accepted = get_args(PrecisionChoice)
    if precision not in accepted:
        from binding.errors import ConfigurationError

        raise ConfigurationError(
            f"precision {precision!r} is not accepted: use {', '.join(accepted)} "
            "(BINDING_PRECISION, --precision, precision=)"
        )
    if precision == "auto":
        return choose_precision(device).precision
    return precision
