"""Embedding: batches of prepared inputs through the network, on a device, at a precision.

`Encoder.embed(modality, inputs)` is the whole job for a caller: it decodes and preprocesses
the inputs (in a thread pool, so decoding overlaps the forward passes), runs the network in
batches sized for the device under `torch.inference_mode`, averages the clips of inputs that
have several (a video's 15 clips, an audio file's 3, a long IMU recording's windows) the
way the reference does, and returns float32 rows, L2-normalised unless asked otherwise.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import torch

from binding.config import Settings
from binding.errors import ConfigurationError, InputError
from binding.modality import NETWORK_INPUT, Modality, parse_modality

if TYPE_CHECKING:
    from binding.models import ImageBind

Precision = Literal["fp32", "bf16", "fp16", "int8"]

# Network items per forward pass when the user sets none. On a CPU larger batches add
# little throughput and much latency; on a GPU they are what keeps it busy.
_CPU_BATCH = {"vision": 8, "text": 32, "audio": 16, "depth": 32, "thermal": 16, "imu": 32}
_GPU_BATCH = {"vision": 64, "text": 256, "audio": 128, "depth": 256, "thermal": 128, "imu": 256}


def resolve_device(device: str | torch.device | None) -> torch.device:
    """`auto` means CUDA when available, else CPU; an unavailable CUDA is a clear error."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigurationError(
            f"device {device!r} was asked for but this torch ({torch.__version__}) sees no CUDA "
            "GPU; use --device cpu, or install a CUDA build of torch"
        )
    return resolved


@dataclass(frozen=True)
class Embeddings:
    """Rows of one `embed` call: unit vectors, and the network's raw (scaled) outputs."""

    vectors: np.ndarray  # (N, D) float32, L2-normalised
    raw: np.ndarray  # (N, D) float32, the reference's outputs (normalised, then scaled)


class Encoder:
    """A model on a device at a precision, turning inputs of any modality into vectors."""

    def __init__(
        self,
        network: torch.nn.Module,
        *,
        model_name: str,
        dim: int,
        device: torch.device,
        precision: Precision = "fp32",
        batch_size: int | None = None,
        random_weights: bool = False,
        workers: int = 2,
    ) -> None:
        self.model_name = model_name
        self.dim = dim
        self.device = device
        self.precision: Precision = precision
        self.random_weights = random_weights
        self._batch_size = batch_size
        self._workers = max(1, workers)
        self.network = self._place(network)

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        model: str | None = None,
        *,
        modalities: Sequence[Modality | str] | None = None,
        checkpoint: str | None = None,
        seed: int | None = None,
        device: str | None = None,
        precision: Precision | None = None,
        batch_size: int | None = None,
        settings: Settings | None = None,
    ) -> Encoder:
        """Build the named model (default from settings) for `modalities` (default: all).

        Only the towers the modalities need are built and read from the checkpoint, so a
        text-only query node holds the 354 M-parameter text tower, not the 4.8 GB model.
        """
        from binding import models

        settings = settings or Settings()
        name = model or settings.model
        spec = models.get_spec(name)
        towers = None
        if modalities is not None:
            towers = sorted({NETWORK_INPUT[parse_modality(str(m))] for m in modalities})
        seed = seed if seed is not None else settings.seed
        checkpoint = checkpoint or settings.checkpoint
        random_weights = spec.random_weights_only or (seed is not None and checkpoint is None)
        network = models.build(
            name, modalities=towers, checkpoint=checkpoint, seed=seed, settings=settings
        )
        return cls(
            network,
            model_name=name,
            dim=spec.embed_dim,
            device=resolve_device(device or settings.device),
            precision=precision or settings.precision,
            batch_size=batch_size or settings.batch_size,
            random_weights=random_weights,
        )

    def _place(self, network: torch.nn.Module) -> torch.nn.Module:
        network = network.eval()
        if self.precision == "fp16" and self.device.type != "cuda":
            raise ConfigurationError(
                "fp16 is for CUDA GPUs; on a CPU use --precision bf16 (or int8)"
            )
        if self.precision == "int8":
            if self.device.type != "cpu":
                raise ConfigurationError("int8 dynamic quantisation runs on the CPU only")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch.ao deprecation notices
                from torch.ao.quantization import quantize_dynamic

                network = quantize_dynamic(network, {torch.nn.Linear}, dtype=torch.qint8)
        return network.to(self.device)

    # -- batching -------------------------------------------------------------------------

    def batch_size(self, modality: Modality | str) -> int:
        """Network items per forward pass for this modality on this device."""
        if self._batch_size:
            return self._batch_size
        key = NETWORK_INPUT[parse_modality(str(modality))]
        table = _GPU_BATCH if self.device.type == "cuda" else _CPU_BATCH
        return table[key]

    def _autocast(self) -> Any:
        if self.precision in ("bf16", "fp16"):
            dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
            return torch.autocast(device_type=self.device.type, dtype=dtype)
        return torch.autocast(device_type=self.device.type, enabled=False)

    @torch.inference_mode()
    def forward_items(self, modality: Modality | str, items: torch.Tensor) -> torch.Tensor:
        """Raw (scaled) network outputs for a batch of network items: (B, ...) -> (B, D)."""
        modality = parse_modality(str(modality))
        key = NETWORK_INPUT[modality]
        if modality is Modality.VIDEO:
            # (B, 3, 2, H, W) clips: the network reads any 5-D vision input as (B, S, ...)
            # clips to average, so give each clip its own S axis of one.
            items = items.unsqueeze(1)
        with self._autocast():
            network = cast("ImageBind", self.network)  # int8 swaps Linear layers, not the class
            out = network.embed(key, items.to(self.device), normalize=False)
        return out.float().cpu()

    # -- the public job -------------------------------------------------------------------

    def embed(
        self,
        modality: Modality | str,
        inputs: Sequence[Any],
        *,
        normalize: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Vectors for `inputs`: (N, D) float32, one row per input, L2-normalised.

        Inputs are texts for `text`; for the other modalities paths, bytes, decoded media or
        prepared tensors. `normalize=False` returns the reference's raw, scaled outputs.
        `progress(n)` is called as each input finishes. A bad input raises `InputError`
        naming it (use `binding.ingest` to go on past bad files).
        """
        result = self.embed_detailed(modality, inputs, progress=progress)
        return result.vectors if normalize else result.raw

    def embed_detailed(
        self,
        modality: Modality | str,
        inputs: Sequence[Any],
        *,
        progress: Callable[[int], None] | None = None,
    ) -> Embeddings:
        """Like `embed`, returning both the unit vectors and the raw outputs."""
        from binding.inputs import prepare

        modality = parse_modality(str(modality))
        if isinstance(inputs, str | bytes):
            raise InputError(None, "inputs must be a sequence of items, not a single str/bytes")
        if modality is Modality.TEXT:
            prepared: Iterator[torch.Tensor] = iter(prepare(modality, list(inputs)))
            return self._run(modality, prepared, len(inputs), progress)
        with ThreadPoolExecutor(self._workers, thread_name_prefix="binding-prepare") as pool:
            # map() keeps order and prefetches: decoding runs while the network computes.
            prepared = pool.map(lambda item: prepare(modality, [item])[0], inputs)
            return self._run(modality, prepared, len(inputs), progress)

    def _run(
        self,
        modality: Modality,
        prepared: Iterator[torch.Tensor],
        count: int,
        progress: Callable[[int], None] | None,
    ) -> Embeddings:
        """Forward every clip of every item in batches; average the clips of each item."""
        limit = self.batch_size(modality)
        sums = np.zeros((count, self.dim), dtype=np.float64)
        clips = np.zeros(count, dtype=np.int64)
        remaining = np.zeros(count, dtype=np.int64)  # clips of an item not yet forwarded
        pending: list[torch.Tensor] = []  # network items waiting for a full batch
        owners: list[int] = []  # the input each pending item belongs to

        def flush() -> None:
            out = self.forward_items(modality, torch.stack(pending)).numpy()
            np.add.at(sums, owners, out)
            np.subtract.at(remaining, owners, 1)
            finished = sum(1 for index in set(owners) if remaining[index] == 0)
            pending.clear()
            owners.clear()
            if progress is not None and finished:
                progress(finished)

        for index, item in enumerate(prepared):
            clips[index] = remaining[index] = item.shape[0]  # item: (S, *network_item_shape)
            for clip in item:
                pending.append(clip)
                owners.append(index)
                if len(pending) >= limit:
                    flush()
        if pending:
            flush()
        # The reference averages the clips' scaled outputs without re-normalising.
        raw = (sums / np.maximum(clips, 1)[:, None]).astype(np.float32)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        vectors = (raw / np.maximum(norms, 1e-12)).astype(np.float32)
        return Embeddings(vectors=vectors, raw=raw)
