"""`QdrantStore`: a collection in Qdrant through `qdrant-client` (distributed mode).

Three places the collection can live: a Qdrant server (`url`, with API key and TLS for
https URLs), qdrant-client's in-memory engine (`location=":memory:"`, for tests) or its
on-disk local mode (`path=`, for comparisons; slow: it scores every point in Python).
The local engines keep no index: every search is exact.

The collection's model and dimension live in Qdrant's collection metadata
(`{"binding_format": 1, "model": ..., "dim": ...}`), which needs Qdrant >= 1.16.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import numpy as np
from qdrant_client import QdrantClient
from qdrant_client.http import models as qm

from binding.errors import BindingError, ConfigurationError, InputError
from binding.store import filters
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

#: Most distinct values `facet` returns.
FACET_LIMIT = 100_000
#: Points per request when upserting a large batch to a server.
UPLOAD_BATCH = 256


@dataclass(frozen=True)
class QdrantOptions:
    """How a server collection indexes and searches (the local engines have no index)."""

    hnsw_m: int = 16
    hnsw_ef_construct: int = 128
    hnsw_ef: int = 256
    quantization: Literal["none", "int8"] = "int8"
    oversampling: float = 2.0
    timeout_s: int = 60


class QdrantStore:
    """A collection in a Qdrant server or in qdrant-client's local engine."""

    engine = "qdrant"

    def __init__(
        self,
        *,
        collection: str,
        model: str,
        dim: int,
        url: str | None = None,
        api_key: str | None = None,
        location: str | None = None,
        path: str | None = None,
        client: QdrantClient | None = None,
        read_only: bool = False,
        options: QdrantOptions | None = None,
    ) -> None:
        if sum(x is not None for x in (url, location, path, client)) != 1:
            raise ConfigurationError(
                "give exactly one of url, location (':memory:'), path or client"
            )
        self.name = collection
        self.model = model
        self.dim = int(dim)
        self.read_only = read_only
        # qdrant-client's local engines (":memory:" and path) have no index and no quantization.
        self.local = url is None and (client is None or _is_local(client))
        self.options = options or QdrantOptions(quantization="none" if self.local else "int8")
        self.where = f"collection {collection!r} at {url or location or path or 'a shared client'}"
        if self.local and self.options.quantization != "none":
            raise ConfigurationError(
                "qdrant-client's local engine has no quantization; use quantization='none' "
                "or a Qdrant server"
            )
        self._owns_client = client is None
        if client is not None:
            self.client = client
        elif url is not None:
            if not url.startswith(("http://", "https://")):
                raise ConfigurationError(
                    f"the Qdrant URL must start with http:// or https://: {url!r}"
                )
            if api_key and url.startswith("http://"):
                log.warning("the Qdrant API key travels unencrypted to %s; use https", url)
            self.client = QdrantClient(url=url, api_key=api_key, timeout=self.options.timeout_s)
        elif location is not None:
            self.client = QdrantClient(location=location)
        else:
            self.client = QdrantClient(path=path)
        self._closed = False
        try:
            self._open_collection()
        except BaseException:
            if self._owns_client:
                self.client.close()
            raise

    # --- opening -----------------------------------------------------------------------------

    def _open_collection(self) -> None:
        exists = self.client.collection_exists(self.name)
        if not exists:
            if self.read_only:
                raise ConfigurationError(f"no {self.where}; ingest something first")
            self._create_collection()
        info = self.client.get_collection(self.name)
        check_record(
            info.config.metadata, model=self.model, dim=self.dim, where=f"the {self.where}"
        )
        self._modality_tags = has_modality_tags(info.config.metadata)
        params = info.config.params.vectors
        size = params.size if isinstance(params, qm.VectorParams) else None
        if size != self.dim:
            raise ConfigurationError(f"the {self.where} holds {size}-d vectors, not {self.dim}-d")

    def _create_collection(self) -> None:
        o = self.options
        quantization = None
        if o.quantization == "int8" and not self.local:
            quantization = qm.ScalarQuantization(
                scalar=qm.ScalarQuantizationConfig(
                    type=qm.ScalarType.INT8, quantile=0.99, always_ram=True
                )
            )
        self.client.create_collection(
            self.name,
            vectors_config=qm.VectorParams(size=self.dim, distance=qm.Distance.COSINE),
            hnsw_config=qm.HnswConfigDiff(m=o.hnsw_m, ef_construct=o.hnsw_ef_construct),
            quantization_config=quantization,
            metadata=collection_record(self.model, self.dim),
        )
        if self.client.get_collection(self.name).config.metadata is None:
            raise ConfigurationError(
                f"the Qdrant server behind {self.where} drops collection metadata; binding needs "
                "Qdrant >= 1.16 to record the collection's model"
            )
        if not self.local:  # the local engines have no payload indexes
            kinds = {"keyword": qm.PayloadSchemaType.KEYWORD, "float": qm.PayloadSchemaType.FLOAT}
            for key, kind in filters.INDEXED_FIELDS.items():
                self.client.create_payload_index(
                    self.name, key, field_schema=kinds[kind], wait=True
                )

    def _to_qdrant(self, f: Filter | None) -> qm.Filter | None:
        return filters.to_qdrant(f, modality_tags=self._modality_tags)

    # --- writing ------------------------------------------------------------------------------

    def _check_writable(self) -> None:
        self._check_open()
        if self.read_only:
            raise BindingError(f"the {self.where} was opened read-only")

    def upsert(self, points: Sequence[Point], *, wait: bool = True) -> None:
        """Insert or overwrite points by id; `wait=False` returns before a server applies them."""
        self._check_writable()
        if not points:
            return
        vectors = point_vectors(points, self.dim)  # (N, D)
        structs = [
            qm.PointStruct(id=str(filters.to_uuid(p.id)), vector=v, payload=point_payload(p))
            for p, v in zip(points, vectors.tolist(), strict=True)
        ]
        for start in range(0, len(structs), UPLOAD_BATCH):
            self.client.upsert(self.name, structs[start : start + UPLOAD_BATCH], wait=wait)

    def delete(self, *, ids: Sequence[PointId] | None = None, filter: Filter | None = None) -> int:
        """Delete by ids or by filter (`Filter()` deletes everything); returns how many went.

        On a server the count is taken just before the delete; a concurrent writer can make
        it differ from what was removed.
        """
        self._check_writable()
        if (ids is None) == (filter is None):
            raise InputError("delete", "give ids or a filter (Filter(ids=...) for both)")
        if ids is not None:
            wanted: list[Any] = [str(u) for u in dict.fromkeys(filters.to_uuid(i) for i in ids)]
            if not wanted:
                return 0
            gone = len(self.client.retrieve(self.name, wanted, with_payload=False))
            selector: Any = qm.PointIdsList(points=wanted)
        else:
            if filters.matches_nothing(filter):
                return 0
            gone = self.count(filter)
            selector = qm.FilterSelector(filter=self._to_qdrant(filter) or qm.Filter())
        if gone:
            self.client.delete(self.name, selector, wait=True)
        return gone

    # --- reading --------------------------------------------------------------------------------

    def _params(self, *, exact: bool, hnsw_ef: int | None) -> qm.SearchParams | None:
        if hnsw_ef is not None and hnsw_ef < 1:
            raise InputError("hnsw_ef", f"must be at least 1, not {hnsw_ef}")
        if self.local:
            return None  # the local engines always search exactly
        quantization = None
        if self.options.quantization != "none" and not self.local:
            quantization = qm.QuantizationSearchParams(
                rescore=True, oversampling=self.options.oversampling
            )
        return qm.SearchParams(
            hnsw_ef=hnsw_ef or self.options.hnsw_ef, exact=exact, quantization=quantization
        )

    def _query(
        self,
        query: Any,
        limit: int,
        f: Filter | None,
        with_vectors: bool,
        params: qm.SearchParams | None,
    ) -> list[Hit]:
        self._check_open()
        if limit < 1:
            raise InputError("limit", f"must be at least 1, not {limit}")
        if filters.matches_nothing(f):
            return []
        response = self.client.query_points(
            self.name,
            query=query,
            query_filter=self._to_qdrant(f),
            search_params=params,
            limit=limit,
            with_payload=True,
            with_vectors=with_vectors,
        )
        return [
            Hit(
                id=filters.to_uuid(str(h.id)),
                score=float(h.score),
                payload=public_payload(h.payload),
                vector=_vector(h.vector) if with_vectors else None,
            )
            for h in response.points
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
        """The `limit` points nearest to `vector` by cosine, best first."""
        q = query_vector(vector, self.dim)
        return self._query(
            q.tolist(), limit, filter, with_vectors, self._params(exact=exact, hnsw_ef=hnsw_ef)
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
        query = qm.RecommendQuery(
            recommend=qm.RecommendInput(
                positive=[query_vector(v, self.dim, "positive example").tolist() for v in positive]
                or None,
                negative=[query_vector(v, self.dim, "negative example").tolist() for v in negative]
                or None,
                strategy=qm.RecommendStrategy.BEST_SCORE,
            )
        )
        return self._query(query, limit, filter, False, self._params(exact=exact, hnsw_ef=hnsw_ef))

    def retrieve(self, ids: Sequence[PointId], *, with_vectors: bool = True) -> list[Point]:
        """The points with these ids that exist, in the order asked (missing ids left out)."""
        self._check_open()
        wanted = list(dict.fromkeys(filters.to_uuid(i) for i in ids))
        if not wanted:
            return []
        records = self.client.retrieve(
            self.name, [str(i) for i in wanted], with_payload=True, with_vectors=with_vectors
        )
        by_id = {filters.to_uuid(str(r.id)): r for r in records}
        return [_point(by_id[i], with_vectors) for i in wanted if i in by_id]

    def count(self, filter: Filter | None = None) -> int:
        """Exact number of points matching `filter`."""
        self._check_open()
        if filters.matches_nothing(filter):
            return 0
        return int(
            self.client.count(self.name, count_filter=self._to_qdrant(filter), exact=True).count
        )

    def scroll(
        self, *, filter: Filter | None = None, batch: int = 1000, with_vectors: bool = False
    ) -> Iterator[Point]:
        """Every matching point in id order, read `batch` at a time.

        Without vectors, each `Point.vector` is an empty array.
        """
        self._check_open()
        if batch < 1:
            raise InputError("batch", f"must be at least 1, not {batch}")
        if filters.matches_nothing(filter):
            return iter(())
        return self._scroll(filter, batch, with_vectors)

    def _scroll(self, f: Filter | None, batch: int, with_vectors: bool) -> Iterator[Point]:
        qdrant_filter = self._to_qdrant(f)
        offset: Any = None
        while True:
            records, offset = self.client.scroll(
                self.name,
                scroll_filter=qdrant_filter,
                limit=batch,
                offset=offset,
                with_payload=True,
                with_vectors=with_vectors,
            )
            for r in records:
                yield _point(r, with_vectors)
            if offset is None or not records:
                return

    def facet(self, key: str, *, filter: Filter | None = None) -> dict[str, int]:
        """Counts of each value of an indexed keyword field (modality, tags, stream, ...)."""
        self._check_open()
        filters.check_facet_key(key)
        if filters.matches_nothing(filter):
            return {}
        response = self.client.facet(
            self.name, key, facet_filter=self._to_qdrant(filter), limit=FACET_LIMIT, exact=True
        )
        return {str(h.value): int(h.count) for h in response.hits}

    def info(self) -> CollectionInfo:
        """Name, model, dimension, size and index state (a local engine is never indexed)."""
        self._check_open()
        info = self.client.get_collection(self.name)
        points = int(info.points_count or 0)
        indexed_vectors = int(info.indexed_vectors_count or 0)
        details: dict[str, Any] = {
            "where": self.where,
            "local": self.local,
            "status": str(info.status.value if hasattr(info.status, "value") else info.status),
            "segments": int(info.segments_count or 0),
            "indexed_vectors": indexed_vectors,
            "hnsw_ef": self.options.hnsw_ef,
            "quantization": "none" if self.local else self.options.quantization,
        }
        return CollectionInfo(
            name=self.name,
            model=self.model,
            dim=self.dim,
            count=points,
            engine=self.engine,
            indexed=not self.local and points > 0 and indexed_vectors >= points,
            details=details,
        )

    def optimize(self, *, wait: bool = True) -> None:
        """A server indexes on its own; `wait=True` waits until its optimizers are idle.

        The local engines have no index, so there is nothing to wait for.
        """
        self._check_writable()
        if self.local or not wait:
            return
        deadline = time.monotonic() + 3600
        while self.client.get_collection(self.name).status != qm.CollectionStatus.GREEN:
            if time.monotonic() > deadline:
                raise BindingError(f"the {self.where} was still optimizing after an hour")
            time.sleep(0.5)

    # --- closing --------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise BindingError(f"the {self.where} is closed")

    def close(self) -> None:
        """Close the connection (local mode: release the folder); a shared client stays open."""
        if not self._closed:
            self._closed = True
            if self._owns_client:
                self.client.close()

    def __enter__(self) -> QdrantStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"QdrantStore({self.where!r}, model={self.model!r}, dim={self.dim})"


def _is_local(client: QdrantClient) -> bool:
    from qdrant_client.local.qdrant_local import QdrantLocal

    return isinstance(client._client, QdrantLocal)


def _vector(v: Any) -> np.ndarray:
    if isinstance(v, dict):  # named vectors: ours is the unnamed one
        v = v.get("", next(iter(v.values())))
    return np.asarray(v, dtype=np.float32)


def _point(record: Any, with_vectors: bool) -> Point:
    vector = _vector(record.vector) if with_vectors else np.empty(0, dtype=np.float32)
    return Point(id=UUID(str(record.id)), vector=vector, payload=public_payload(record.payload))
