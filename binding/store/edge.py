"""`EdgeStore`: a Qdrant Edge shard in a local folder (embedded mode).

Layout of a store folder (`<data_dir>/store/<collection>/`):

    binding-store.json   model, dimension and format version (checked on every open)
    binding.lock         held (flock) by the process that has the store open; holds its pid
    current-shard        the name of the live shard folder, e.g. `shard-000002`
    shard-000002/        the live Qdrant Edge shard
    shard-000003/        a copy being indexed by a child process (removed on open if not live)

Indexing. Qdrant Edge's `optimize()` builds HNSW while holding the Python GIL (44 s at 100k
points), so no thread of the process can run meanwhile. `optimize()` here therefore never
builds in this process: it flushes, copies the live shard to the next `shard-NNNNNN/` (writes
wait, queries go on), and a child process loads the copy and optimizes it. This process keeps
serving queries and writes from the live shard, noting the ids it writes. When the child is
done, this process loads the build, copies the noted points into it (the last few with writes
waiting), points `current-shard` at it and swaps the two shard objects: queries never wait
for more than that swap of references. Until then, points not yet indexed sit in appendable
segments that Qdrant searches exactly, so results stay correct throughout.
See docs/store.md for the measurements behind this.

Disk space. The shard's files are memory-mapped and sparse: a write into them on a full disk
is SIGBUS, not an error. Free space is checked before the store grows (`binding.store.space`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

import numpy as np

from binding.errors import BindingError, ConfigurationError, InputError, StoreLockedError
from binding.store import filters, space
from binding.store.base import CollectionInfo, Filter, Hit, Point, PointId
from binding.store.validation import (
    check_record,
    collection_record,
    has_modality_tags,
    point_payload,
    point_vectors,
    public_payload,
    query_vector,
)

log = logging.getLogger(__name__)

RECORD_FILE = "binding-store.json"
LOCK_FILE = "binding.lock"
CURRENT_FILE = "current-shard"
FIRST_SHARD = "shard-000001"
# Shard folders this store makes (and may remove): shard-NNNNNN.
_SHARD_NAME = re.compile(r"shard-\d{6}")

#: Most distinct values `facet` returns.
FACET_LIMIT = 100_000
#: After a build, points written meanwhile are carried over in rounds that writes do not wait
#: for, until at most this many are left for a last round that writes wait for.
REPLAY_LOCKED_MAX = 2_000
REPLAY_ROUNDS = 5

# The child that indexes a copy of the shard: argv = [shard folder, niceness].
_BUILD_SCRIPT = """
import os, sys
os.nice(int(sys.argv[2]))
import qdrant_edge
shard = qdrant_edge.EdgeShard.load(sys.argv[1])
shard.optimize()
shard.flush()
shard.close()
"""


@dataclass(frozen=True)
class EdgeOptions:
    """How an Edge shard indexes and searches. Defaults measured in bench/search.py."""

    hnsw_m: int = 16  # graph edges per node (Qdrant's default)
    hnsw_ef_construct: int = 128  # candidates while building
    hnsw_ef: int = 256  # candidates while searching; per query with `hnsw_ef=`
    #: A filtered search scans the matching points of a segment (int8 copies, then rescored)
    #: instead of walking its graph when fewer than this many match there; segments with
    #: fewer points are always scanned. Qdrant builds per-value graph links only for payload
    #: values above it. Measured in bench/search.py: scanning 28k matches costs ~3 ms.
    full_scan_points: int = 50_000
    #: Appendable segments larger than this (KiB of vectors) are indexed by `optimize()`.
    indexing_threshold_kb: int = 10_000
    #: Largest segment the optimizer builds (KiB of vectors); None: Qdrant's default.
    max_segment_size_kb: int | None = None
    #: "int8": scalar-quantised copy searched first, then rescored with the originals.
    quantization: Literal["none", "int8"] = "int8"
    oversampling: float = 2.0  # candidates scored on int8 per result rescored on float32
    #: Start a background index build once this many points are unindexed; None: never.
    auto_index_points: int | None = 50_000
    #: Niceness of the child that builds the index, so that queries keep their CPU.
    build_niceness: int = 10

    def __post_init__(self) -> None:
        if self.quantization not in ("none", "int8"):
            raise ConfigurationError(
                f"quantization {self.quantization!r} is not available; choose 'none' or 'int8'"
            )
        for name in ("hnsw_m", "hnsw_ef_construct", "hnsw_ef", "full_scan_points"):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"{name} must be at least 1, not {getattr(self, name)}")


@dataclass
class IndexBuild:
    """A background index build: a child process optimizing a copy of the shard."""

    started: float
    folder: Path
    process: subprocess.Popen[bytes] | None = None
    touched: set[UUID] = field(default_factory=set)  # ids written while it runs
    done: threading.Event = field(default_factory=threading.Event)
    error: str | None = None
    cancelled: bool = False
    copy_s: float = 0.0  # writes waited this long for the copy
    build_s: float = 0.0  # the child's run
    swap_s: float = 0.0  # writes waited this long for the last replay round and the swap
    replayed: int = 0  # points written during the build and carried over (per round)

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)


class EdgeStore:
    """A collection in a local Qdrant Edge shard; see the module docstring for the layout."""

    engine = "edge"

    def __init__(
        self,
        path: str | Path,
        *,
        model: str,
        dim: int,
        name: str | None = None,
        read_only: bool = False,
        options: EdgeOptions | None = None,
        reserve_bytes: int = space.DEFAULT_RESERVE_BYTES,
    ) -> None:
        import qdrant_edge as qe

        self._qe = qe
        self.path = Path(path)
        self.model = model
        self.dim = int(dim)
        self.name = name or self.path.name
        self.read_only = read_only
        self.options = options or EdgeOptions()
        self.reserve_bytes = int(reserve_bytes)  # free space kept (binding.store.space)
        self._lock = threading.RLock()  # every shard call
        self._write_lock = threading.RLock()  # writes; held by a build's copy and replay
        self._build: IndexBuild | None = None
        self._last_build: IndexBuild | None = None
        self._closed = False

        record_path = self.path / RECORD_FILE
        if read_only and not record_path.exists():
            raise ConfigurationError(f"no store at {self.path}; ingest something first")
        self.path.mkdir(parents=True, exist_ok=True)
        # Opening may fill the shard's sparse files (replaying the log; populating the maps,
        # which on tmpfs allocates them); a new store allocates its first files.
        space.check_open(self.path, self.reserve_bytes, read_only=read_only)
        self._lock_fd = self._take_folder_lock()
        self._shard: Any = None
        self._shard_name: str | None = None
        self._modality_tags = True  # a new store derives the field on every point
        try:
            self._shard_name = self._recover()
            if record_path.exists():
                try:
                    record = json.loads(record_path.read_text())
                except ValueError:
                    raise ConfigurationError(
                        f"{record_path} is damaged (not JSON); it should read "
                        f"{json.dumps(collection_record(model, self.dim))}"
                    ) from None
                check_record(record, model=model, dim=self.dim, where=f"the store at {self.path}")
                self._modality_tags = has_modality_tags(record)
                if self._shard_name is None:
                    raise ConfigurationError(
                        f"the store at {self.path} has no {CURRENT_FILE} naming its live shard; "
                        "write the name of its newest shard-NNNNNN folder into that file, or "
                        "re-ingest into another BINDING_COLLECTION"
                    )
                self._shard = self._load(self.path / self._shard_name)
            else:
                if self._shard_name is not None:
                    raise ConfigurationError(
                        f"{self.path} holds a shard but no {RECORD_FILE}; it was not made by "
                        "binding. Choose another BINDING_COLLECTION or BINDING_DATA_DIR"
                    )
                self._shard = qe.EdgeShard.create(str(self.path / FIRST_SHARD), self._config())
                self._point_at(FIRST_SHARD)
                _write_atomically(
                    record_path, json.dumps(collection_record(model, self.dim), indent=1)
                )
            if not read_only:
                self._ensure_payload_indexes()
        except BaseException:
            if self._shard is not None:
                self._shard.close()
            self._release_folder_lock()
            raise

    # --- opening ---------------------------------------------------------------------------

    def _config(self) -> Any:
        qe, o = self._qe, self.options
        quantization = None
        if o.quantization == "int8":
            quantization = qe.ScalarQuantizationConfig(
                qe.ScalarType.Int8, quantile=0.99, always_ram=True
            )
        return qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=self.dim, distance=qe.Distance.Cosine),
            hnsw_config=qe.HnswIndexConfig(
                m=o.hnsw_m,
                ef_construct=o.hnsw_ef_construct,
                full_scan_threshold=self._full_scan_kb(),
            ),
            quantization_config=quantization,
            optimizers=qe.EdgeOptimizersConfig(
                indexing_threshold=o.indexing_threshold_kb, max_segment_size=o.max_segment_size_kb
            ),
        )

    def _full_scan_kb(self) -> int:
        # Qdrant counts the threshold in KiB of float32 vectors; ours is in points.
        return max(1, -(-self.options.full_scan_points * self.dim * 4 // 1024))

    def _load(self, shard_path: Path) -> Any:
        self._check_wal_free(shard_path / "wal")
        # Passing the config applies today's options to future index builds (and writes
        # them into the shard, which a read-only open must not do).
        config = None if self.read_only else self._config()
        return self._qe.EdgeShard.load(str(shard_path), config)

    def _check_wal_free(self, wal: Path) -> None:
        """Raise `StoreLockedError` when another process holds the shard's write-ahead log.

        Qdrant's WAL takes an exclusive flock on its folder while a shard is open; a process
        that does not take our folder lock (an older binding, a script using qdrant-edge
        directly) shows up here, before the load would fail with an untyped error."""
        if not wal.is_dir():
            return
        fd = os.open(wal, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreLockedError(self.path) from None
        finally:
            os.close(fd)  # closing releases the probe's lock

    def _take_folder_lock(self) -> int:
        fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise StoreLockedError(self.path, int(text) if text.isdigit() else None) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return fd

    def _release_folder_lock(self) -> None:
        if self._lock_fd >= 0:
            with contextlib.suppress(OSError):
                os.ftruncate(self._lock_fd, 0)
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = -1

    def _recover(self) -> str | None:
        """The live shard's folder name; removes shard folders that are not live (builds that
        a dead process left, or a shard a finished build replaced)."""
        current = self.path / CURRENT_FILE
        if not current.exists() and (self.path / "shard").is_dir():
            # A store from before `current-shard`: its one shard folder was `shard/`.
            (self.path / "shard").rename(self.path / FIRST_SHARD)
            _write_atomically(current, FIRST_SHARD + "\n")
        name = current.read_text().strip() if current.exists() else None
        if name is not None and not _SHARD_NAME.fullmatch(name):
            raise ConfigurationError(f"{current} names {name!r}, not a shard folder; it is damaged")
        if name is None:
            return None  # nothing is removed from a store that does not say which shard is live
        for folder in self.path.iterdir():
            if folder.is_dir() and _SHARD_NAME.fullmatch(folder.name) and folder.name != name:
                shutil.rmtree(folder, ignore_errors=True)
        return name

    def _point_at(self, name: str) -> None:
        """Make `name` the live shard, atomically (a crash leaves the old or the new name)."""
        _write_atomically(self.path / CURRENT_FILE, name + "\n")
        self._shard_name = name

    def _ensure_payload_indexes(self) -> None:
        qe = self._qe
        kinds = {"keyword": qe.PayloadSchemaType.Keyword, "float": qe.PayloadSchemaType.Float}
        have = set(self._shard.info().payload_schema)
        for key, kind in filters.INDEXED_FIELDS.items():
            if key not in have:
                self._shard.update(qe.UpdateOperation.create_field_index(key, kinds[kind]))

    def _to_edge(self, f: Filter | None) -> Any:
        return filters.to_edge(f, modality_tags=self._modality_tags)

    # --- writing -----------------------------------------------------------------------------

    def _check_writable(self) -> None:
        if self._closed:
            raise BindingError(f"the store at {self.path} is closed")
        if self.read_only:
            raise BindingError(f"the store at {self.path} was opened read-only")

    def upsert(self, points: Sequence[Point], *, wait: bool = True) -> None:
        """Insert or overwrite points by id. Edge applies every write before returning."""
        self._check_writable()
        if not points:
            return
        vectors = point_vectors(points, self.dim)  # (N, D)
        ids = [filters.to_uuid(p.id) for p in points]
        qe = self._qe
        # Rows go to Qdrant Edge as memoryviews of the float32 array: its binding reads those
        # about three times faster than lists of Python floats.
        batch = [
            qe.Point(i, memoryview(v), point_payload(p))
            for i, v, p in zip(ids, vectors, points, strict=True)
        ]
        payload_bytes = sum(len(json.dumps(p.payload, default=str)) for p in points)
        needed = space.upsert_bytes(vectors.nbytes, payload_bytes, len(points))
        with self._write_lock, self._lock:
            space.check_space(self.path, needed, self.reserve_bytes)
            try:
                self._shard.update(qe.UpdateOperation.upsert_points(batch))
            except Exception as error:
                if not space.is_disk_full(error):
                    raise
                free = space.free_bytes(self.path)
                raise space.DiskFullError(self.path, needed + self.reserve_bytes, free) from error
            if self._build is not None:
                self._build.touched.update(ids)
        self._maybe_start_build()

    def delete(self, *, ids: Sequence[PointId] | None = None, filter: Filter | None = None) -> int:
        """Delete by ids or by filter (`Filter()` deletes everything); returns how many went."""
        self._check_writable()
        if (ids is None) == (filter is None):
            raise InputError("delete", "give ids or a filter (Filter(ids=...) for both)")
        qe = self._qe
        with self._write_lock, self._lock:
            if ids is not None:
                wanted = list(dict.fromkeys(filters.to_uuid(i) for i in ids))
                if not wanted:
                    return 0
                gone = [r.id for r in self._shard.retrieve(wanted, False, False)]
                if gone:
                    self._shard.update(qe.UpdateOperation.delete_points(gone))
            elif filters.matches_nothing(filter):
                return 0
            else:
                # Listing the ids first gives an exact count and lets a running build learn them.
                gone = [p.id for p in self._scroll(filter, 10_000, False)]
                if gone:
                    self._shard.update(qe.UpdateOperation.delete_points(gone))
            if self._build is not None:
                self._build.touched.update(gone)
            return len(gone)

    # --- reading -------------------------------------------------------------------------------

    def _params(self, *, exact: bool, hnsw_ef: int | None) -> Any:
        qe = self._qe
        if hnsw_ef is not None and hnsw_ef < 1:
            raise InputError("hnsw_ef", f"must be at least 1, not {hnsw_ef}")
        quantization = None
        if self.options.quantization != "none":
            quantization = qe.QuantizationSearchParams(
                rescore=True, oversampling=self.options.oversampling
            )
        return qe.SearchParams(
            hnsw_ef=hnsw_ef or self.options.hnsw_ef, exact=exact, quantization=quantization
        )

    def _query(
        self, query: Any, limit: int, f: Filter | None, with_vectors: bool, params: Any
    ) -> list[Hit]:
        if limit < 1:
            raise InputError("limit", f"must be at least 1, not {limit}")
        if filters.matches_nothing(f):
            return []
        request = self._qe.QueryRequest(
            limit=limit,
            query=query,
            filter=self._to_edge(f),
            with_payload=True,
            with_vector=with_vectors,
            params=params,
        )
        with self._lock:
            self._check_open()
            found = self._shard.query(request)
        return [
            Hit(
                id=filters.to_uuid(h.id),
                score=float(h.score),
                payload=public_payload(h.payload),
                vector=_vector(h.vector) if with_vectors else None,
            )
            for h in found
        ]

    def search(
        self,
        vector: np.ndarray,
        *,
        limit: int = 10,
        filter: Filter | None = None,
        with_vectors: bool = False,
        exact: bool = False,
        hnsw_ef: int | None = None,
    ) -> list[Hit]:
        """The `limit` points nearest to `vector` by cosine, best first.

        `exact=True` scores every matching point; `hnsw_ef` widens the HNSW search (default
        `options.hnsw_ef`).
        """
        q = query_vector(vector, self.dim)
        query = self._qe.Query.Nearest(q.tolist())
        return self._query(
            query, limit, filter, with_vectors, self._params(exact=exact, hnsw_ef=hnsw_ef)
        )

    def recommend(
        self,
        positive: Sequence[np.ndarray],
        negative: Sequence[np.ndarray] = (),
        *,
        limit: int = 10,
        filter: Filter | None = None,
        exact: bool = False,
        hnsw_ef: int | None = None,
    ) -> list[Hit]:
        """Qdrant's recommend, best-score strategy: near any positive, away from negatives.

        Scores are Qdrant's: a squashed best positive cosine in (0.5, 1] when it beats the
        best negative one, else minus the squashed best negative cosine.
        """
        if not positive and not negative:
            raise InputError("recommend", "give at least one example, positive or negative")
        qe = self._qe
        pos = [query_vector(v, self.dim, "positive example").tolist() for v in positive]
        neg = [query_vector(v, self.dim, "negative example").tolist() for v in negative]
        query = qe.Query.RecommendBestScore(qe.RecommendQuery(pos, neg))
        return self._query(query, limit, filter, False, self._params(exact=exact, hnsw_ef=hnsw_ef))

    def retrieve(self, ids: Sequence[PointId], *, with_vectors: bool = True) -> list[Point]:
        """The points with these ids that exist, in the order asked (missing ids left out)."""
        wanted = list(dict.fromkeys(filters.to_uuid(i) for i in ids))
        if not wanted:
            return []
        with self._lock:
            self._check_open()
            records = self._shard.retrieve(wanted, True, with_vectors)
        by_id = {filters.to_uuid(r.id): r for r in records}
        return [_point(by_id[i], with_vectors) for i in wanted if i in by_id]

    def count(self, filter: Filter | None = None) -> int:
        """Exact number of points matching `filter`."""
        if filters.matches_nothing(filter):
            return 0
        request = self._qe.CountRequest(exact=True, filter=self._to_edge(filter))
        with self._lock:
            self._check_open()
            return int(self._shard.count(request))

    def scroll(
        self, *, filter: Filter | None = None, batch: int = 1000, with_vectors: bool = False
    ) -> Iterator[Point]:
        """Every matching point in id order, read `batch` at a time.

        Without vectors, each `Point.vector` is an empty array.
        """
        if batch < 1:
            raise InputError("batch", f"must be at least 1, not {batch}")
        if filters.matches_nothing(filter):
            return iter(())
        return self._scroll(filter, batch, with_vectors)

    def _scroll(self, f: Filter | None, batch: int, with_vectors: bool) -> Iterator[Point]:
        edge_filter = self._to_edge(f)
        offset: Any = None
        while True:
            request = self._qe.ScrollRequest(
                offset=offset,
                limit=batch,
                filter=edge_filter,
                with_payload=True,
                with_vector=with_vectors,
            )
            with self._lock:  # held per batch, never across a yield
                self._check_open()
                records, offset = self._shard.scroll(request)
            for r in records:
                yield _point(r, with_vectors)
            if offset is None or not records:
                return

    def facet(self, key: str, *, filter: Filter | None = None) -> dict[str, int]:
        """Counts of each value of an indexed keyword field (modality, tags, stream, ...)."""
        filters.check_facet_key(key)
        if filters.matches_nothing(filter):
            return {}
        request = self._qe.FacetRequest(
            key, limit=FACET_LIMIT, exact=True, filter=self._to_edge(filter)
        )
        with self._lock:
            self._check_open()
            response = self._shard.facet(request)
        return {str(h.value): int(h.count) for h in response.hits}

    def info(self) -> CollectionInfo:
        """Name, model, dimension, size and index state (`details` has segment counts)."""
        with self._lock:
            self._check_open()
            shard = self._shard.info()
        build = self._build
        last = self._last_build
        points = int(shard.points_count)
        indexed = int(shard.indexed_vectors_count)
        details: dict[str, Any] = {
            "path": str(self.path),
            "segments": int(shard.segments_count),
            "indexed_vectors": indexed,
            "unindexed_points": max(points - indexed, 0),
            "building_index": build is not None,
            "hnsw_m": self.options.hnsw_m,
            "hnsw_ef_construct": self.options.hnsw_ef_construct,
            "hnsw_ef": self.options.hnsw_ef,
            "quantization": self.options.quantization,
        }
        if last is not None:
            details["last_build"] = {
                "seconds": round(last.build_s, 3),
                "copy_seconds": round(last.copy_s, 3),
                "swap_seconds": round(last.swap_s, 3),
                "replayed_points": last.replayed,
                "error": last.error,
            }
        return CollectionInfo(
            name=self.name,
            model=self.model,
            dim=self.dim,
            count=points,
            engine=self.engine,
            indexed=points > 0 and indexed >= points,
            details=details,
        )

    # --- indexing ---------------------------------------------------------------------------

    @property
    def index_build(self) -> IndexBuild | None:
        """The build now running, if any."""
        return self._build

    def optimize(self, *, wait: bool = True) -> None:
        """Build the HNSW index of unindexed points in a child process (see module docstring).

        Queries and writes go on meanwhile. `wait=False` returns once the copy is made;
        `index_build.wait()` or `info().details["building_index"]` tell when it is done.
        A failed build raises `BindingError` when waited for; the store is unchanged.
        """
        self._check_writable()
        build = self._build or self._start_build()
        if wait:
            build.wait()
            if build.error and not build.cancelled:
                raise BindingError(f"index build of {self.path} failed: {build.error}")

    def optimize_in_process(self) -> bool:
        """Run Qdrant Edge's optimizer here, holding the GIL throughout (benchmarks, tools).

        Every other thread of this process stops until it returns. Returns whether any
        segment changed.
        """
        self._check_writable()
        if self._build is not None:
            self._build.wait()
        with self._write_lock, self._lock:
            return bool(self._shard.optimize())

    def _maybe_start_build(self) -> None:
        threshold = self.options.auto_index_points
        if threshold is None or self._build is not None or self.read_only:
            return
        with self._lock:
            shard = self._shard.info()
        if shard.points_count - shard.indexed_vectors_count >= threshold:
            try:
                self._start_build()
            except space.DiskFullError as error:  # the store works unindexed meanwhile
                log.warning("index build of %s not started: %s", self.path, error)

    def _start_build(self) -> IndexBuild:
        with self._write_lock:
            if self._build is not None:
                return self._build
            assert self._shard_name is not None
            number = int(self._shard_name.rsplit("-", 1)[1]) + 1
            target = self.path / f"shard-{number:06d}"
            build = IndexBuild(started=time.perf_counter(), folder=target)
            shutil.rmtree(target, ignore_errors=True)
            shard_bytes = space.allocated_bytes(self.path / self._shard_name)
            space.check_space(self.path, shard_bytes, self.reserve_bytes, "an index build")
            with self._lock:
                self._shard.flush()
            # Queries go on during the copy (file copies release the GIL); writes wait.
            shutil.copytree(self.path / self._shard_name, target)
            build.copy_s = time.perf_counter() - build.started
            build.process = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _BUILD_SCRIPT,
                    str(target),
                    str(self.options.build_niceness),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            self._build = build
        threading.Thread(target=self._finish_build, args=(build,), daemon=True).start()
        return build

    def _finish_build(self, build: IndexBuild) -> None:
        assert build.process is not None
        target = build.folder
        try:
            _, stderr = build.process.communicate()
            build.build_s = time.perf_counter() - build.started - build.copy_s
            if build.cancelled:
                build.error = "cancelled"
            elif build.process.returncode != 0:
                tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
                build.error = f"exit status {build.process.returncode}: {' '.join(tail)}"
            else:
                self._swap(build, target)
        except Exception as e:  # the store stays as it was; the error is reported
            build.error = f"{type(e).__name__}: {e}"
            log.exception("index build of %s failed", self.path)
        finally:
            if build.error and target.name != self._shard_name:
                shutil.rmtree(target, ignore_errors=True)
            self._last_build = build
            self._build = None
            build.done.set()

    def _swap(self, build: IndexBuild, target: Path) -> None:
        built: Any = self._qe.EdgeShard.load(str(target))
        try:
            # Carry over what was written while the child worked. Rounds without the write
            # lock while many points wait; the last round holds it, so that nothing is missed.
            for _ in range(REPLAY_ROUNDS):
                with self._write_lock:
                    if len(build.touched) <= REPLAY_LOCKED_MAX:
                        break
                    batch, build.touched = build.touched, set()
                build.replayed += self._replay(built, batch)
            with self._write_lock:
                t0 = time.perf_counter()
                if self._closed:
                    build.error = "cancelled"
                    return
                batch, build.touched = build.touched, set()
                build.replayed += self._replay(built, batch)
                built.flush()
                old_shard, old_name = self._shard, self._shard_name
                self._point_at(target.name)
                with self._lock:  # queries wait only for this
                    self._shard, built = built, None
                old_shard.close()
                build.swap_s = time.perf_counter() - t0
        finally:
            if built is not None:
                built.close()
        shutil.rmtree(self.path / str(old_name), ignore_errors=True)

    def _replay(self, built: Any, ids: set[UUID]) -> int:
        """Make `built` hold what this shard holds for `ids`: the points, or their absence."""
        qe = self._qe
        touched = list(ids)
        for start in range(0, len(touched), 1000):
            chunk = touched[start : start + 1000]
            with self._lock:
                records = self._shard.retrieve(chunk, True, True)
            present = {filters.to_uuid(r.id) for r in records}
            if records:
                points = [qe.Point(r.id, r.vector, r.payload or {}) for r in records]
                built.update(qe.UpdateOperation.upsert_points(points))
            absent = [i for i in chunk if i not in present]
            if absent:
                built.update(qe.UpdateOperation.delete_points(absent))
        return len(touched)

    # --- closing ------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise BindingError(f"the store at {self.path} is closed")

    def close(self) -> None:
        """Stop a running index build (its work is dropped), flush, and release the folder."""
        if self._closed:
            return
        build = self._build
        if build is not None and build.process is not None:
            build.cancelled = True
            build.process.terminate()
            build.wait(30)
        with self._write_lock, self._lock:
            self._closed = True
            self._shard.flush()
            self._shard.close()
        if build is not None and build.folder.name != self._shard_name:
            shutil.rmtree(build.folder, ignore_errors=True)
        self._release_folder_lock()

    def __enter__(self) -> EdgeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EdgeStore({str(self.path)!r}, model={self.model!r}, dim={self.dim})"


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _vector(v: Any) -> np.ndarray:
    if isinstance(v, dict):  # named vectors: ours is the unnamed one
        v = v.get("", next(iter(v.values())))
    return np.asarray(v, dtype=np.float32)


def _point(record: Any, with_vectors: bool) -> Point:
    vector = _vector(record.vector) if with_vectors else np.empty(0, dtype=np.float32)
    return Point(
        id=filters.to_uuid(record.id), vector=vector, payload=public_payload(record.payload)
    )


def with_options(options: EdgeOptions, **changes: Any) -> EdgeOptions:
    """A copy of `options` with some fields changed (unknown names are an error)."""
    unknown = set(changes) - set(EdgeOptions.__dataclass_fields__)
    if unknown:
        raise ConfigurationError(f"unknown Edge store options: {', '.join(sorted(unknown))}")
    return replace(options, **changes)
