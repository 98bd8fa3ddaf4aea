"""The vector store: one `Store` protocol, two engines, chosen by configuration.

    store = open_store(settings, model="imagebind_huge", dim=1024)

`BINDING_QDRANT_URL` unset: a Qdrant Edge shard in `<data_dir>/store/<collection>`
(embedded mode). An http(s) URL: a Qdrant server (API key from `BINDING_QDRANT_API_KEY`,
TLS for https). `":memory:"`: qdrant-client's in-memory engine (tests).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from binding.errors import ConfigurationError, TransientError
from binding.store.base import CollectionInfo, Filter, Hit, Point, PointId, Store

if TYPE_CHECKING:
    from binding.config import Settings

__all__ = [
    "CollectionInfo",
    "Filter",
    "Hit",
    "Point",
    "PointId",
    "Store",
    "open_store",
]

# A collection name is also a folder name: no separators, no dot-dot, not hidden.
_COLLECTION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def open_store(settings: Settings, *, model: str, dim: int, read_only: bool = False) -> Store:
    """The store `settings` name, for vectors of `model` with `dim` dimensions.

    Opening a collection made for another model or dimension, or a store folder another
    process holds, raises `ConfigurationError` saying what to do.
    """
    name = settings.collection_for(model)
    if not _COLLECTION_NAME.fullmatch(name):
        raise ConfigurationError(
            f"BINDING_COLLECTION {name!r} is not a usable name; use up to 64 letters, digits, "
            "'_', '-' or '.', starting with a letter or digit"
        )
    if dim < 1:
        raise ConfigurationError(f"a collection needs a positive dimension, not {dim}")
    url = settings.qdrant_url
    if not url:
        from binding.store.edge import EdgeStore

        return EdgeStore(
            settings.data_dir / "store" / name,
            model=model,
            dim=dim,
            name=name,
            read_only=read_only,
            reserve_bytes=settings.store_reserve_bytes,
        )

    from binding.store.qdrant import QdrantStore

    if url == ":memory:":
        return QdrantStore(location=url, collection=name, model=model, dim=dim, read_only=read_only)
    if url.startswith(("http://", "https://")):
        from binding.transient import is_transient

        try:
            return QdrantStore(
                url=url,
                api_key=settings.qdrant_api_key,
                collection=name,
                model=model,
                dim=dim,
                read_only=read_only,
            )
        except Exception as exc:
            if not is_transient(exc):
                raise
            # still transient (a worker retries it), but one line, not the client's traceback
            raise TransientError(
                f"cannot reach the Qdrant server at BINDING_QDRANT_URL={url!r} "
                f"({_reason(exc)}); start it or fix the URL, or unset BINDING_QDRANT_URL "
                "to use the embedded store"
            ) from exc
    raise ConfigurationError(
        f"BINDING_QDRANT_URL must be the http(s) URL of a Qdrant server (or ':memory:' in "
        f"tests), not {url!r}; leave it unset for the embedded store in BINDING_DATA_DIR"
    )


def _reason(error: BaseException) -> str:
    """The innermost cause's message: `[Errno 111] Connection refused`, not the wrappers'."""
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return str(error) or type(error).__name__
