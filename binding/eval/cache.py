"""Embeddings cached by content hash, model and precision, so re-evaluating is cheap.

The key of an item is sha256(modality, model, precision, seed or checkpoint, content), where
the content is a text's UTF-8 bytes or a file's bytes (not its path: a moved file is not
re-embedded, an edited one is). Rows live in one SQLite file (`<cache_dir>/eval/embeddings.sqlite`);
changing only the prompt templates re-embeds only the prompts that are new.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

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
    caller can report the share of an evaluation spent in the encoder.
    """

    def __init__(
        self, encoder: Encoder, cache_dir: Path | str | None, *, identity: str | None = None
    ) -> None:
        self.encoder = encoder
        self.identity = identity or model_identity(encoder)
        self.encoder_seconds = 0.0
        self.hits = 0
        self.misses = 0
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
        """(N, D) float32 unit vectors for `items`, from the cache where present."""
        modality = parse_modality(str(modality))
        keys = [self.key(modality, content_bytes(modality, item)) for item in items]
        out = np.zeros((len(items), self.encoder.dim), dtype=np.float32)
        known = self._read(keys)
        todo = [i for i, key in enumerate(keys) if key not in known]
        for i, key in enumerate(keys):
            if key in known:
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
            vectors = self.encoder.embed(modality, inputs, progress=progress)
            self.encoder_seconds += time.perf_counter() - start
            for row, i in enumerate(todo):
                out[i] = vectors[row]
            self._write([(keys[i], vectors[row]) for row, i in enumerate(todo)])
        return out

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


def model_identity(encoder: Encoder) -> str:
    """Model, precision and where the weights came from, as one string for cache keys."""
    network = getattr(encoder, "network", None)
    origin = getattr(network, "checkpoint_id", None) or (
        "random" if encoder.random_weights else "checkpoint"
    )
    return f"{encoder.model_name}|{encoder.precision}|{origin}"
