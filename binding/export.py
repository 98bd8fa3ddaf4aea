"""Points out to files (Parquet or JSON Lines) and back: ids, vectors and payloads.

Both formats carry what made them: format version, model and dimension.

- Parquet: columns `id` (string), `modality`, `source`, `vector` (fixed-size list of
  float32) and `payload` (JSON text); the record sits in the schema metadata.
- JSON Lines: a first line `{"binding_export": 1, "model": ..., "dim": ...}`, then one
  `{"id": ..., "vector": [...], "payload": {...}}` per point.

Files are written beside their destination and renamed into place when complete.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

import numpy as np

from binding.errors import InputError
from binding.store.base import Point

Format = Literal["parquet", "jsonl"]

#: Version of the export layout; reading another version is an error.
EXPORT_VERSION = 1

#: Points written per Parquet row group.
ROW_GROUP = 4096

_SUFFIXES: dict[str, Format] = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}


@dataclass(frozen=True)
class ExportHeader:
    """What an export file says about itself."""

    model: str
    dim: int
    version: int = EXPORT_VERSION


def format_for(path: Path, format: Format | str | None = None) -> Format:  # noqa: A002
    """The format asked for, or the one the file's extension names."""
    if format is not None:
        if format not in ("parquet", "jsonl"):
            raise InputError(str(path), f"unknown export format {format!r}; use parquet or jsonl")
        return format  # type: ignore[return-value]
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise InputError(
            str(path), "say the format (parquet or jsonl) or use a .parquet or .jsonl name"
        )
    return found


def write_points(
    points: Iterable[Point],
    path: Path,
    *,
    format: Format | str | None = None,  # noqa: A002
    model: str,
    dim: int,
) -> int:
    """Write `points` to `path`; returns how many were written."""
    kind = format_for(path, format)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    temp = Path(name)
    try:
        header = ExportHeader(model=model, dim=dim)
        count = (
            _write_parquet(points, temp, header)
            if kind == "parquet"
            else _write_jsonl(points, temp, header)
        )
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return count


def _vector(point: Point, dim: int) -> np.ndarray:
    vector = np.asarray(point.vector, dtype=np.float32)
    if vector.shape != (dim,):
        raise InputError(f"point {point.id}", f"vector has shape {vector.shape}, not ({dim},)")
    return vector


def _write_jsonl(points: Iterable[Point], path: Path, header: ExportHeader) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as f:
        record = {"binding_export": header.version, "model": header.model, "dim": header.dim}
        f.write(json.dumps(record) + "\n")
        for point in points:
            row = {
                "id": str(point.id),
                "vector": [float(v) for v in _vector(point, header.dim)],
                "payload": point.payload,
            }
            f.write(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n")
            count += 1
    return count


def _parquet_schema(header: ExportHeader) -> Any:
    import pyarrow as pa

    metadata = {
        b"binding_export": str(header.version).encode(),
        b"model": header.model.encode(),
        b"dim": str(header.dim).encode(),
    }
    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("modality", pa.string()),
            pa.field("source", pa.string()),
            pa.field("vector", pa.list_(pa.float32(), header.dim), nullable=False),
            pa.field("payload", pa.string(), nullable=False),
        ],
        metadata=metadata,
    )


def _write_parquet(points: Iterable[Point], path: Path, header: ExportHeader) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _parquet_schema(header)
    count = 0
    rows: list[Point] = []

    def flush(writer: Any) -> None:
        vectors = np.stack([_vector(p, header.dim) for p in rows]).reshape(-1)  # (N * D,)
        table = pa.Table.from_arrays(
            [
                pa.array([str(p.id) for p in rows], pa.string()),
                pa.array([p.payload.get("modality") for p in rows], pa.string()),
                pa.array([p.payload.get("source") for p in rows], pa.string()),
                pa.FixedSizeListArray.from_arrays(pa.array(vectors, pa.float32()), header.dim),
                pa.array(
                    [json.dumps(p.payload, ensure_ascii=False, allow_nan=False) for p in rows],
                    pa.string(),
                ),
            ],
            schema=schema,
        )
        writer.write_table(table)
        rows.clear()

    with pq.ParquetWriter(path, schema) as writer:
        for point in points:
            rows.append(point)
            count += 1
            if len(rows) >= ROW_GROUP:
                flush(writer)
        if rows:
            flush(writer)
    return count


def read_header(path: Path) -> ExportHeader:
    """The format version, model and dimension an export file records."""
    kind = format_for(path)
    if kind == "parquet":
        import pyarrow.parquet as pq

        meta = pq.read_schema(path).metadata or {}
        record: dict[str, Any] = {k.decode(): v.decode() for k, v in meta.items()}
    else:
        with path.open(encoding="utf-8") as f:
            try:
                record = json.loads(f.readline())
            except json.JSONDecodeError:
                record = {}
    try:
        version, model, dim = (
            int(record["binding_export"]),
            str(record["model"]),
            int(record["dim"]),
        )
    except (KeyError, TypeError, ValueError):
        raise InputError(str(path), "not a binding export (no format/model/dim record)") from None
    if version != EXPORT_VERSION:
        raise InputError(
            str(path), f"export format {version}; this version of binding reads {EXPORT_VERSION}"
        )
    return ExportHeader(model=model, dim=dim, version=version)


def read_points(path: Path) -> Iterator[Point]:
    """The points of an export file, in file order."""
    path = Path(path)
    header = read_header(path)
    if format_for(path) == "parquet":
        import pyarrow.parquet as pq

        table = pq.ParquetFile(path)
        for batch in table.iter_batches(columns=["id", "vector", "payload"]):
            ids = batch.column(0).to_pylist()
            vectors = batch.column(1).flatten().to_numpy().reshape(-1, header.dim)
            payloads = batch.column(2).to_pylist()
            for point_id, vector, payload in zip(ids, vectors, payloads, strict=True):
                yield Point(UUID(point_id), vector.astype(np.float32), json.loads(payload))
        return
    with path.open(encoding="utf-8") as f:
        f.readline()  # the header
        for number, line in enumerate(f, start=2):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                vector = np.asarray(row["vector"], dtype=np.float32)
                point = Point(UUID(row["id"]), vector, dict(row["payload"]))
            except (KeyError, TypeError, ValueError) as error:
                raise InputError(f"{path}:{number}", f"not a point: {error}") from None
            if vector.shape != (header.dim,):
                raise InputError(
                    f"{path}:{number}", f"vector has shape {vector.shape}, not ({header.dim},)"
                )
            yield point
