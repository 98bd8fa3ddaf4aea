"""The Python API: one `Engine` for ingest, search, deletion and export.

    import binding.api as binding

    with binding.open(model="imagebind_huge") as engine:
        report = engine.ingest(["~/photos", "~/recordings/*.wav"], tags=["trip"])
        result = engine.search('0.7*image:beach.jpg + audio:waves.wav - 0.5*text:"people"')
        for hit in result.hits:
            print(hit.score, hit.payload["source"])

The engine chooses its parts from `Settings` once: in embedded mode (the default) the store
is a Qdrant Edge folder in `BINDING_DATA_DIR` and the encoder runs in this process. The
encoder and the store are opened on first use, so importing this module, or opening an
engine only to read `info()`, loads neither torch nor the model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

import numpy as np

from binding.config import Settings, load_settings
from binding.errors import InputError
from binding.ingest import FileOutcome, IngestReport
from binding.media import MediaStore
from binding.modality import Modality
from binding.store.base import Filter, Hit, Point, PointId

if TYPE_CHECKING:
    from binding.encoder import Encoder
    from binding.executor import Executor
    from binding.jobs import Jobs
    from binding.query.explain import Explanation
    from binding.query.terms import Query
    from binding.store.base import Store
    from binding.streams.stored import StreamWindow

__all__ = [
    "Engine",
    "EngineInfo",
    "FileOutcome",
    "Filter",
    "Hit",
    "IngestReport",
    "SearchResult",
    "open",
]


@dataclass(frozen=True)
class SearchResult:
    """A query's hits, best first; `explanations[i]` explains `hits[i]` when asked for."""

    query: Query
    hits: list[Hit]
    explanations: list[Explanation] | None = None

    def to_dict(self) -> dict[str, Any]:
        from binding.query.parser import format_query

        rows = []
        for i, hit in enumerate(self.hits):
            row: dict[str, Any] = {"id": str(hit.id), "score": hit.score, "payload": hit.payload}
            if self.explanations is not None:
                e = self.explanations[i]
                row["explanation"] = {
                    "cosines": list(e.cosines),
                    "contributions": list(e.contributions),
                }
            rows.append(row)
        return {"query": format_query(self.query), "mode": self.query.mode, "hits": rows}


@dataclass(frozen=True)
class EngineInfo:
    """What an engine holds: its model, its collection and how many points of each modality."""

    model: str
    dim: int
    engine: str  # "edge" or "qdrant"
    collection: str
    count: int
    modalities: dict[str, int]
    random_weights: bool
    indexed: bool
    data_dir: str
    media_files: int
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def open(settings: Settings | None = None, **overrides: Any) -> Engine:  # noqa: A001
    """An `Engine` for `settings` (default: from the environment), with `overrides` applied.

    `overrides` are `Settings` fields (`model=`, `data_dir=`, `seed=`...); an unknown one is
    an error. Nothing heavy happens here: the model and the store open on first use.
    """
    if settings is None:
        settings = load_settings(**overrides)
    elif overrides:
        settings = load_settings(**{**settings.model_dump(), **overrides})
    return Engine(settings)


class Engine:
    """Ingest, search, delete and export over one collection and one model."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        encoder: Encoder | None = None,
        store: Store | None = None,
    ) -> None:
        """Prefer `binding.api.open`. An `encoder` or `store` given here is used instead of
        one built from the settings (a worker or a test shares one); the engine closes only
        a store it opened itself."""
        from binding.models.registry import get_spec

        self.settings = settings or load_settings()
        spec = get_spec(encoder.model_name if encoder is not None else self.settings.model)
        self.model: str = spec.name
        self.dim: int = spec.embed_dim
        self._random_weights_only = spec.random_weights_only
        from binding.towers import attach_towers, register_from_settings

        # trained modalities (BINDING_TOWERS): named in queries and ingest before any encoder
        trained = register_from_settings(self.settings, model=self.model)
        if encoder is not None and trained:
            attach_towers(encoder, trained)
        self.media = MediaStore(
            Path(self.settings.data_dir) / "media", max_bytes=self.settings.max_upload_bytes
        )
        self._encoder = encoder
        self._store = store
        self._owns_store = store is None
        self._lock = threading.RLock()
        self._closed = False
        self._executor: Executor | None = None

    # -- parts, opened on first use -------------------------------------------------------

    @property
    def encoder(self) -> Encoder:
        """The model with every tower, loaded on first use."""
        with self._lock:
            if self._encoder is None:
                import warnings

                from binding.encoder import Encoder

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # `random_weights` says it, where it matters
                    self._encoder = Encoder.load(self.model, settings=self.settings)
            return self._encoder

    @property
    def store(self) -> Store:
        """The collection, opened on first use."""
        with self._lock:
            if self._closed:
                raise InputError("engine", "this engine is closed")
            if self._store is None:
                from binding.store import open_store

                self._store = open_store(self.settings, model=self.model, dim=self.dim)
                self._owns_store = True
            return self._store

    @property
    def random_weights(self) -> bool:
        """True when the model has random weights: its results mean nothing."""
        if self._encoder is not None:
            return bool(self._encoder.random_weights)
        s = self.settings
        return self._random_weights_only or (s.seed is not None and s.checkpoint is None)

    # -- ingest ---------------------------------------------------------------------------

    def ingest(
        self,
        sources: Sequence[str | Path],
        *,
        modality: Modality | str | None = None,
        tags: Sequence[str] = (),
        recursive: bool = True,
        captions: bool = True,
        progress: Callable[[FileOutcome], None] | None = None,
    ) -> IngestReport:
        """Embed and store files, folders and glob patterns.

        The modality of each file is sniffed from its bytes unless `modality` is given; a
        file under a folder named `depth/` or `thermal/` is taken as that modality. Content
        already stored is skipped as a duplicate; a bad file is rejected with its reason and
        the others go on. `progress` is called with each file's outcome as it is known.
        Text files become text points; with `captions` (the default) a `.txt` beside a file
        of the same name (`photo.jpg` + `photo.txt`) is instead that file's `caption`.
        """
        return self.executor.ingest(
            sources,
            modality=modality,
            tags=tags,
            recursive=recursive,
            captions=captions,
            progress=progress,
        )

    def ingest_bytes(
        self,
        name: str,
        data: bytes,
        *,
        modality: Modality | str | None = None,
        tags: Sequence[str] = (),
    ) -> FileOutcome:
        """Embed an upload: its bytes are kept under their hash, `name` only as a label.

        Waits for the outcome (in distributed mode, a worker embeds it)."""
        return self.executor.ingest_bytes(name, data, modality=modality, tags=tags)

    def submit(
        self,
        sources: Sequence[str | Path],
        *,
        modality: Modality | str | None = None,
        tags: Sequence[str] = (),
        recursive: bool = True,
        captions: bool = True,
    ) -> str:
        """Start ingesting files and return the job's id (see `jobs.status`).

        With workers (BINDING_BROKER_URL set) this returns once the files are queued; in
        embedded mode the job runs here and is finished when this returns.
        """
        return self.executor.submit(
            sources, modality=modality, tags=tags, recursive=recursive, captions=captions
        )

    def submit_bytes(
        self,
        name: str,
        data: bytes,
        *,
        modality: Modality | str | None = None,
        tags: Sequence[str] = (),
    ) -> str:
        """Start embedding an upload and return the job's id (see `jobs.status`)."""
        return self.executor.submit_bytes(name, data, modality=modality, tags=tags)

    def ingest_media(
        self,
        sha256: str,
        *,
        name: str,
        modality: Modality | str | None = None,
        tags: Sequence[str] = (),
    ) -> FileOutcome:
        """Embed a file already in the media store, by hash (what a worker is handed)."""
        from binding.ingest import embed_stored_file

        return embed_stored_file(self, sha256, name, modality, tags)

    # -- search ---------------------------------------------------------------------------

    def _embed_inputs(self, modality: Modality, inputs: list[str | Path]) -> np.ndarray:
        return self.executor.embed(modality, inputs)

    @property
    def executor(self) -> Executor:
        """Where ingest and query embedding run: Celery workers when BINDING_BROKER_URL is
        set, else this process. Chosen once."""
        with self._lock:
            if self._executor is None:
                from binding.executor import executor_for

                self._executor = executor_for(self)
            return self._executor

    @property
    def jobs(self) -> Jobs:
        """Job records: `engine.jobs.status(job_id)` counts embedded, duplicate, rejected
        and pending files, with the reasons."""
        return self.executor.jobs

    def embed_query(self, query: Query) -> np.ndarray:
        """Each term's vector, L2-normalised: (T, D) float32."""
        from binding.query.combine import resolve_terms

        return resolve_terms(query.terms, embed=self._embed_inputs, store=self.store)

    def search(
        self,
        query: Query | str,
        *,
        limit: int | None = None,
        filter: Filter | None = None,  # noqa: A002
        mode: str | None = None,
        explain: bool = False,
    ) -> SearchResult:
        """Hits for a composite query, best first.

        `query` is a `Query` or its written form (`0.7*image:a.jpg - text:"indoors" @ 5`).
        `limit`, `mode` and `filter` override the query's own; a `filter` is combined with
        the query's filter (both must hold). `explain` adds each hit's cosine with each term.
        """
        from binding.query.combine import search as run_search
        from binding.query.parser import parse_query

        if isinstance(query, str):
            query = parse_query(query)
        changes: dict[str, Any] = {}
        if limit is not None:
            changes["limit"] = limit
        if mode is not None:
            changes["mode"] = mode
        if filter is not None:
            changes["filter"] = merge_filters(query.filter, filter)
        if query.filter is not None or filter is not None:
            changes["filter"] = with_stored_source(changes.get("filter", query.filter))
        if changes:
            query = replace(query, **changes)
        vectors = self.embed_query(query)  # (T, D)
        hits = run_search(query, vectors, self.store, with_vectors=explain)
        explanations = None
        if explain:
            from binding.query.explain import explain as run_explain

            explanations = run_explain(hits, vectors, query.weights, store=self.store)
        return SearchResult(query=query, hits=hits, explanations=explanations)

    def more_like(
        self,
        point_id: PointId,
        *,
        limit: int = 10,
        filter: Filter | None = None,  # noqa: A002
    ) -> SearchResult:
        """Points nearest to a stored point, the point itself left out."""
        from binding.query.terms import Query, Term

        term = Term.point(point_id)
        own = Filter(exclude_ids=frozenset({term.input.id}))  # type: ignore[union-attr]
        query = Query((term,), limit=limit, filter=merge_filters(filter, own))
        return self.search(query)

    # -- browsing: what the dashboard and reports read -----------------------------------

    @staticmethod
    def recognise(data: bytes, *, name: str | None = None) -> Modality:
        """The modality of content, from its bytes (`name` helps only where bytes cannot
        tell); an `InputError` says why when it cannot be told (depth, thermal)."""
        from binding.io.sniff import detect_modality

        return detect_modality(data, name=name)

    @staticmethod
    def extension_of(data: bytes) -> str:
        """The file extension the content's format calls for ('' when unknown)."""
        from binding.io.sniff import HEAD_BYTES, sniff

        kind = sniff(data[:HEAD_BYTES])
        return kind.extension if kind is not None and kind.extension else ""

    @staticmethod
    def label(name: str | None) -> str:
        """A display label for a user-given name (an upload's): never a path."""
        from binding.points import display_name

        return display_name(name)

    def media_file(self, sha256: str) -> Path | None:
        """The kept copy of a stored file, by its content hash; None when it is not kept."""
        found = self.media.find(sha256)
        return Path(found.path) if found is not None else None

    def point_id(self, modality: Modality | str, sha256: str) -> UUID:
        """The id of the whole-file point of content `sha256` under this engine's model."""
        from binding.points import point_id

        return point_id(self.model, modality, sha256)

    def facet(self, field: str) -> dict[str, int]:
        """How many points carry each value of a payload field (`modality`, `tags`,
        `stream`, `source`...)."""
        return dict(self.store.facet(field))

    def points(self, ids: Sequence[PointId], *, with_vectors: bool = False) -> list[Point]:
        """The stored points with these ids (ids as UUIDs or strings); unknown ids are left
        out."""
        from binding.store.filters import to_uuid

        wanted = [to_uuid(i) for i in ids]
        return list(self.store.retrieve(wanted, with_vectors=with_vectors)) if wanted else []

    def scroll(
        self,
        *,
        filter: Filter | None = None,  # noqa: A002
        with_vectors: bool = False,
        limit: int | None = None,
        batch: int = 1000,
    ) -> Iterator[Point]:
        """Stored points that match `filter`, read `batch` at a time; at most `limit`."""
        for count, point in enumerate(
            self.store.scroll(
                filter=with_stored_source(filter), with_vectors=with_vectors, batch=batch
            )
        ):
            if limit is not None and count >= limit:
                return
            yield point

    def stream_windows(self, stream: str, *, limit: int | None = None) -> list[StreamWindow]:
        """The stored windows of sensor stream `stream`, placed in wall-clock time (`t0`,
        `t1`) and sorted by start; at most `limit` read (see `binding.streams.stored`)."""
        from binding.streams.stored import place_windows

        return place_windows(self.scroll(filter=Filter(stream=stream), limit=limit, batch=2000))

    # -- maintenance ----------------------------------------------------------------------

    def delete(
        self,
        *,
        ids: Sequence[PointId] | None = None,
        source: str | None = None,
        tag: str | None = None,
    ) -> int:
        """Delete points by ids, by source (exact) or by tag; returns how many were removed.

        Exactly one of the three must be given. Media files no point refers to any more are
        removed from the media store.
        """
        given = [name for name, value in (("ids", ids), ("source", source), ("tag", tag)) if value]
        if len(given) != 1:
            raise InputError("delete", "give exactly one of ids, source or tag")
        store = self.store
        if ids:
            from binding.store.filters import to_uuid

            wanted = [to_uuid(i) for i in ids]
            hashes = {p.payload.get("sha256") for p in store.retrieve(wanted, with_vectors=False)}
            removed = store.delete(ids=wanted)
        else:
            where = with_stored_source(Filter(source=source) if source else None) or Filter(
                tags=frozenset({str(tag)})
            )
            hashes = {p.payload.get("sha256") for p in store.scroll(filter=where)}
            removed = store.delete(filter=where)
        for sha256 in hashes:
            if isinstance(sha256, str) and store.count(Filter(sha256=sha256)) == 0:
                self.media.delete(sha256)
        return removed

    def info(self) -> EngineInfo:
        """Model, collection, point counts (in all and per modality), engine and data folder."""
        store = self.store
        collection = store.info()
        return EngineInfo(
            model=self.model,
            dim=self.dim,
            engine=collection.engine,
            collection=collection.name,
            count=collection.count,
            modalities=dict(sorted(store.facet("modality").items())),
            random_weights=self.random_weights,
            indexed=collection.indexed,
            data_dir=str(self.settings.data_dir),
            media_files=self.media.count(),
            details=dict(collection.details),
        )

    def export(
        self,
        path: Path | str,
        *,
        format: Literal["parquet", "jsonl"] | None = None,  # noqa: A002
        filter: Filter | None = None,  # noqa: A002
    ) -> int:
        """Write the points (ids, vectors, payloads) to Parquet or JSON Lines; returns how many.

        The format follows the file's extension (`.parquet`, `.jsonl`) unless given.
        """
        from binding.export import write_points

        return write_points(
            self.store.scroll(filter=with_stored_source(filter), with_vectors=True),
            Path(path),
            format=format,
            model=self.model,
            dim=self.dim,
        )

    # -- lifetime -------------------------------------------------------------------------

    def close(self) -> None:
        """Flush and release the store (when this engine opened it)."""
        with self._lock:
            if self._store is not None and self._owns_store:
                self._store.close()
            self._store = None
            self._closed = True
            if self._executor is not None:
                self._executor.close()
                self._executor = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Engine(model={self.model!r}, data_dir={str(self.settings.data_dir)!r})"


def with_stored_source(f: Filter | None) -> Filter | None:
    """`f` with its `source` as ingest stores it (see `binding.ingest.stored_source`)."""
    from binding.ingest.collect import stored_source

    if f is None or not isinstance(f.source, str):
        return f
    return replace(f, source=stored_source(f.source))


def merge_filters(first: Filter | None, second: Filter | None) -> Filter | None:
    """A filter that holds where both hold.

    Modality and id sets intersect, time bounds narrow, exclusions add up. Two different
    tag lists (a point has several tags, so no single list says "both"), or two different
    values of `stream`, `source` or `sha256`, are refused.
    """
    if first is None:
        return second
    if second is None:
        return first
    merged: dict[str, Any] = {}
    for f in fields(Filter):
        a, b = getattr(first, f.name), getattr(second, f.name)
        if a is None or b is None:
            merged[f.name] = b if a is None else a
        elif f.name == "exclude_ids":
            merged[f.name] = a | b
        elif f.name in ("modalities", "ids"):  # one value per point: any-of sets intersect
            merged[f.name] = a & b
            if not merged[f.name]:
                word = "modality" if f.name == "modalities" else "id"
                raise InputError(
                    "filter",
                    f"{word} {', '.join(sorted(map(str, a)))} (in the query) and "
                    f"{', '.join(sorted(map(str, b)))} (asked besides it) exclude each other: "
                    "no point could match; keep one",
                )
        elif f.name == "time_from":
            merged[f.name] = max(a, b)
        elif f.name == "time_to":
            merged[f.name] = min(a, b)
        elif a != b:
            raise InputError("filter", f"{f.name} cannot be both {a!r} and {b!r}")
        else:
            merged[f.name] = a
    return Filter(**merged)
