"""Embeddings cached by content hash, model and precision, so re-evaluating is cheap.

The key of an item is sha256(modality, model, precision, seed or checkpoint, content), where
the content is a text's UTF-8 bytes or a file's bytes (not its path: a moved file is not
re-embedded, an edited one is). Rows live in one SQLite file (`<cache_dir>/eval/embeddings.sqlite`);
changing only the prompt templates re-embeds only the prompts that are new.

One bad file does not stop an evaluation: an item that cannot be read or embedded (`InputError`)
gets a row of NaN and its reason in `CachedEmbedder.rejected`; the evaluations drop such rows
(`binding.eval.metrics.usable_rows`) and the run reports the files left out. Failures that are not the input's
(the encoder, the machine) still raise.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from binding.errors import InputError
from binding.inputs import describe
from binding.modality import Modality, parse_modality

if TYPE_CHECKING:
    from binding.encoder import Encoder

Item = str | Path | bytes


def content_bytes(modality: Modality, item: Item) -> bytes:
    """What an item's key hashes: a text's bytes, a file's bytes, or raw bytes as given."""
    if isinstance(item, bytes):
        return item
    if modality is Modality.TEXT:
        return str(item).encode("utf-8")
    path = Path(item)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FileNotFoundError(f"{path}: cannot read it for evaluation ({exc})") from exc


class CachedEmbedder:
    """`embed(modality, items)` through an encoder, reading and filling the cache.

    `encoder_seconds` adds up the time spent inside `Encoder.embed` (decoding included), so a
    caller can report the share of an evaluation spent in the encoder. `rejected` maps each
    item that could not be embedded (as error messages name it) to the reason.
    """

    def __init__(
        self, encoder: Encoder, cache_dir: Path | str | None, *, identity: str | None = None
    ) -> None:
        self.encoder = encoder
        self.identity = identity or model_identity(encoder)
        self.encoder_seconds = 0.0
        self.hits = 0
        self.misses = 0
        self.rejected: dict[str, str] = {}
        self._db: sqlite3.Connection | None = None
        if cache_dir is not None:
            folder = Path(cache_dir) / "eval"
            folder.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(folder / "embeddings.sqlite", check_same_thread=False)
            self._db.execute("CREATE TABLE IF NOT EXISTS rows (key TEXT PRIMARY KEY, v BLOB)")

    def key(self, modality: Modality, content: bytes) -> str:
        digest = hashlib.sha256()
        digest.update(f"{modality.value}\0{self.identity}\0".encode())
        digest.update(content)
        return digest.hexdigest()

    def embed(
        self,
        modality: Modality | str,
        items: Sequence[Item],
        *,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """(N, D) float32 unit vectors for `items`, from the cache where present.

        Rows of items that cannot be read or embedded are NaN (see `metrics.usable_rows`); their
        reasons are in `rejected`.
        """
        modality = parse_modality(str(modality))
        out = np.full((len(items), self.encoder.dim), np.nan, dtype=np.float32)
        keys: list[str | None] = []
        for item in items:
            try:
                keys.append(self.key(modality, content_bytes(modality, item)))
            except FileNotFoundError as exc:
                self.rejected[describe(item)] = str(exc).split(": ", 1)[-1]
                keys.append(None)
        known = self._read([k for k in keys if k is not None])
        todo = [i for i, key in enumerate(keys) if key is not None and key not in known]
        for i, key in enumerate(keys):
            if key is not None and key in known:
                out[i] = known[key]
        self.hits += len(items) - len(todo)
        self.misses += len(todo)
        if progress is not None and len(items) > len(todo):
            progress(len(items) - len(todo))
        if todo:
            inputs: list[Any] = [
                str(items[i]) if isinstance(items[i], Path) else items[i] for i in todo
            ]
            start = time.perf_counter()
            vectors = self._embed_skipping_bad(modality, inputs, _capped(progress, len(todo)))
            self.encoder_seconds += time.perf_counter() - start
            done: list[tuple[str, np.ndarray]] = []
            for i, vector in zip(todo, vectors, strict=True):
                key = keys[i]
                if vector is not None and key is not None:
                    out[i] = vector
                    done.append((key, vector))
            self._write(done)
        return out

    def _embed_skipping_bad(
        self, modality: Modality, inputs: list[Any], progress: Callable[[int], None] | None
    ) -> list[np.ndarray | None]:
        """Vectors of `inputs`, None for each one the encoder refuses (`InputError`).

        The whole batch is tried first; a refusal splits it in halves until the bad items are
        alone, so one corrupt file among thousands costs a few small batches, not a rerun
        item by item.
        """
        try:
            return list(self.encoder.embed(modality, inputs, progress=progress))
        except InputError as exc:
            if len(inputs) == 1:
                self.rejected[exc.source] = exc.reason
                return [None]
        middle = len(inputs) // 2
        return self._embed_skipping_bad(
            modality, inputs[:middle], progress
        ) + self._embed_skipping_bad(modality, inputs[middle:], progress)

    def _read(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        if self._db is None or not keys:
            return {}
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key, v FROM rows WHERE key IN ({marks})"  # noqa: S608
            for key, blob in self._db.execute(query, chunk):
                found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def _write(self, rows: Sequence[tuple[str, np.ndarray]]) -> None:
        if self._db is None:
            return
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO rows VALUES (?, ?)",
                [(key, np.asarray(v, dtype=np.float32).tobytes()) for key, v in rows],
            )

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _capped(progress: Callable[[int], None] | None, total: int) -> Callable[[int], None] | None:
    """`progress`, reporting at most `total` items (a batch retried in halves repeats some)."""
    if progress is None:
        return None
    reported = 0

    def tick(n: int) -> None:
        nonlocal reported
        step = min(n, total - reported)
        if step > 0:
            reported += step
            progress(step)

    return tick


def model_identity(encoder: Encoder) -> str:
    """Model, precision and where the weights came from, as one string for cache keys."""
    network = getattr(encoder, "network", None)
    origin = getattr(network, "checkpoint_id", None) or (
        "random" if encoder.random_weights else "checkpoint"
    )
    return f"{encoder.model_name}|{encoder.precision}|{origin}"
