"""Embedding: batches of prepared inputs through the network, on a device, at a precision.

`Encoder.embed(modality, inputs)` is the whole job for a caller: it decodes and preprocesses
the inputs (in a thread pool, so decoding overlaps the forward passes), runs the network in
batches sized for the device under `torch.inference_mode`, averages the clips of inputs that
have several (a video's 15 clips, an audio file's 3, a long IMU recording's windows) the
way the reference does, and returns float32 rows, L2-normalised unless asked otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import torch

from binding.config import Settings, check_device
from binding.errors import ConfigurationError, InputError
from binding.modality import NETWORK_MODALITIES, Modality, modality_spec, parse_modality
from binding.precision import PrecisionChoice, resolve_precision

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
    if isinstance(device, str):
        try:
            check_device(device)
        except ValueError as exc:  # `gpu`: one line, not torch's list of 20 device types
            raise ConfigurationError(f"{exc} (BINDING_DEVICE, --device, device=)") from None
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigurationError(
            f"device {device!r} was asked for but this torch ({torch.__version__}) sees no CUDA "
            "GPU; set BINDING_DEVICE=cpu (device= in Python), or install a CUDA build of torch"
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
        precision: PrecisionChoice = "fp32",
        batch_size: int | None = None,
        random_weights: bool = False,
        workers: int = 2,
    ) -> None:
        self.model_name = model_name
        self.dim = dim
        self.device = device
        self.precision: Precision = resolve_precision(precision, device)  # `auto` decided here
        self.random_weights = random_weights
        self._batch_size = batch_size
        self._workers = max(1, workers)
        self.network = self._place(network)
        #: towers outside the network (trained modalities), by network input
        self.towers: dict[str, torch.nn.Module] = {}

    def has_tower(self, network_input: str) -> bool:
        return network_input in self.towers

    def add_tower(self, network_input: str, tower: torch.nn.Module) -> None:
        """A tower outside the network (`binding.towers`): (B, *item_shape) -> unit vectors.

        It runs in fp32 on the encoder's device (trained towers are small)."""
        if network_input in NETWORK_MODALITIES:
            raise ValueError(f"{network_input!r} is a tower of the network itself")
        self.towers[network_input] = tower.eval().float().to(self.device)

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
        precision: PrecisionChoice | None = None,
        batch_size: int | None = None,
        settings: Settings | None = None,
    ) -> Encoder:
        """Build the named model (default from settings) for `modalities` (default: all).

        Only the towers the modalities need are built and read from the checkpoint, so a
        text-only query node holds the 354 M-parameter text tower, not the 4.8 GB model.
        """
        from binding import models
        from binding.towers import attach_towers, register_from_settings

        settings = settings or Settings()
        name = model or settings.model
        spec = models.get_spec(name)
        if spec.preprocess != models.PREPROCESS:
            # binding.preprocess implements one config; weights must never meet another
            raise ConfigurationError(
                f"model {name}: its preprocessing config differs from the one binding's "
                "preprocessing implements (binding.models.registry.PREPROCESS)"
            )
        trained = register_from_settings(settings, model=name)  # BINDING_TOWERS / --towers
        towers = None
        if modalities is not None:
            inputs = {modality_spec(str(m)).network_input for m in modalities}
            towers = sorted(inputs & set(NETWORK_MODALITIES))
            trained = [t for t in trained if t.network_input in inputs]
        seed = seed if seed is not None else settings.seed
        checkpoint = checkpoint or settings.checkpoint
        random_weights = spec.random_weights_only or (seed is not None and checkpoint is None)
        network = models.build(
            name, modalities=towers, checkpoint=checkpoint, seed=seed, settings=settings
        )
        encoder = cls(
            network,
            model_name=name,
            dim=spec.embed_dim,
            device=resolve_device(device or settings.device),
            precision=precision or settings.precision,
            batch_size=batch_size or settings.batch_size,
            random_weights=random_weights,
        )
        attach_towers(encoder, trained)
        return encoder

    def _place(self, network: torch.nn.Module) -> torch.nn.Module:
        """Put the network on the device at the precision. The encoder owns the network:
        bf16, fp16 and int8 convert it in place (no second copy of 4.8 GB)."""
        from binding.models import ImageBind

        network = network.eval()
        if self.precision == "fp16" and self.device.type != "cuda":
            raise ConfigurationError(
                "fp16 is for CUDA GPUs; on a CPU set BINDING_PRECISION (precision=) to auto, int8, "
                "or bf16 where the CPU has native bf16"
            )
        if self.precision == "int8":
            if self.device.type != "cpu":
                raise ConfigurationError("int8 dynamic quantisation runs on the CPU only")
            if not isinstance(network, ImageBind):
                raise ConfigurationError("int8 needs binding's ImageBind network")
            from binding.models.quantize import quantize_int8

            network = quantize_int8(network)  # every Linear, the fused q/k/v included
        elif self.precision in ("bf16", "fp16"):
            # Weights converted once: autocast would cast them again on every call
            # (bench/encoder.py: text at batch 1 ran 3.3x the reference this way, 1.4x so).
            network = network.to(torch.bfloat16 if self.precision == "bf16" else torch.float16)
        return network.to(self.device)

    # -- batching -------------------------------------------------------------------------

    def batch_size(self, modality: Modality | str) -> int:
        """Network items per forward pass for this modality on this device."""
        if self._batch_size:
            return self._batch_size
        key = modality_spec(str(modality)).network_input
        table = _GPU_BATCH if self.device.type == "cuda" else _CPU_BATCH
        return table.get(key, table["depth"])  # a trained tower: small, like depth's

    @torch.inference_mode()
    def forward_items(self, modality: Modality | str, items: torch.Tensor) -> torch.Tensor:
        """Raw (scaled) network outputs for a batch of network items: (B, ...) -> (B, D)."""
        key = modality_spec(str(modality)).network_input
        tower = self.towers.get(key)
        if tower is not None:
            return tower(items.to(self.device).float()).float().cpu()
        if key not in NETWORK_MODALITIES:
            raise ConfigurationError(
                f"no tower for modality {modality}: it is not part of {self.model_name}; "
                "give its trained model folder (--towers DIR, BINDING_TOWERS)"
            )
        network = cast("ImageBind", self.network)
        # embed_items never reads a 5-D batch of video clips (B, 3, 2, H, W) as (B, S, ...)
        out = network.embed_items(key, items.to(self.device))
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
        if modality.spec.prepare_batch is not None:  # text: one tokenizer call for all
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
        batcher = ClipBatcher(self, modality, on_done=(lambda _: progress(1)) if progress else None)
        results = [batcher.add(item) for item in prepared]
        batcher.finish()
        raw = np.zeros((count, self.dim), dtype=np.float32)
        for index, result in enumerate(results):
            raw[index] = result.mean()
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        vectors = (raw / np.maximum(norms, 1e-12)).astype(np.float32)
        return Embeddings(vectors=vectors, raw=raw)


@dataclass
class ClipSum:
    """The raw outputs of one input's clips, summed as their batches come back."""

    clips: int
    remaining: int
    total: np.ndarray | None = None  # (D,) float64

    @property
    def done(self) -> bool:
        return self.remaining == 0

    def mean(self) -> np.ndarray:
        """The reference's output for the input: the mean of its clips' scaled outputs,
        not re-normalised."""
        assert self.total is not None and self.done, "every clip must be forwarded first"
        return (self.total / self.clips).astype(np.float32)

    @classmethod
    def merged(cls, parts: Sequence[ClipSum]) -> ClipSum:
        """One sum over the clips of several finished inputs (a recording's windows)."""
        totals = [part.total for part in parts if part.total is not None]
        return cls(sum(part.clips for part in parts), 0, np.sum(totals, axis=0))


class ClipBatcher:
    """Network items of one modality from many inputs, forwarded in full batches.

    Items wait until a batch is full, so small inputs (one image, three audio clips) share
    forward passes, also across calls of `add` made by a long-running ingest.
    """

    def __init__(
        self,
        encoder: Encoder,
        modality: Modality,
        *,
        on_done: Callable[[ClipSum], None] | None = None,
    ) -> None:
        self.encoder = encoder
        self.modality = modality
        self.limit = encoder.batch_size(modality)
        self.on_done = on_done
        self._items: list[torch.Tensor] = []  # each (*item_shape)
        self._owners: list[ClipSum] = []

    def add(self, clips: torch.Tensor) -> ClipSum:
        """Queue an input's clips, (S, *item_shape); its sum fills in as batches run."""
        result = ClipSum(clips=int(clips.shape[0]), remaining=int(clips.shape[0]))
        for clip in clips:
            self._items.append(clip)
            self._owners.append(result)
            if len(self._items) >= self.limit:
                self._forward()
        return result

    def finish(self) -> None:
        """Forward what is left in a last, partial batch."""
        if self._items:
            self._forward()

    def _forward(self) -> None:
        items, owners = torch.stack(self._items), self._owners  # items: (B, *item_shape)
        self._items, self._owners = [], []
        out = self.encoder.forward_items(self.modality, items).double().numpy()  # (B, D)
        for row, owner in zip(out, owners, strict=True):
            owner.total = row.copy() if owner.total is None else owner.total + row
            owner.remaining -= 1
            if owner.done and self.on_done is not None:
                self.on_done(owner)
