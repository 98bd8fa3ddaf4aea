"""The engine every page shares, cached searches, uploads kept as bytes, and error display.

One `Engine` per settings is kept with `st.cache_resource`: in embedded mode it owns the
store folder (Qdrant Edge locks it to one process) and loads the encoder on first search;
in distributed mode the engine talks to the Qdrant server and the query queue and this
process never loads the model. Pages only call the engine; the engine decides.

Search results are cached with a bounded `st.cache_data`, keyed by the written query, the
uploads' hashes and a revision number that every change the dashboard makes (ingest,
delete, sample data) increases, so a cached result is never stale for this process.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import streamlit as st

if TYPE_CHECKING:
    from binding.api import Engine

#: Results kept by the search cache (queries, not hits).
SEARCH_CACHE_ENTRIES = 64
#: Extensions a temporary query file may carry (the engine sniffs bytes; this only helps it).
_SAFE_EXT = re.compile(r"^\.[a-z0-9]{1,8}$")


def current_settings() -> Any:
    """Settings from the environment (and `.env`), as the CLI reads them."""
    from binding.config import Settings

    return Settings()


def settings_key(settings: Any) -> str:
    """A stable name of a configuration (the cache key of its engine): a hash, so that no
    secret in the settings (an API key) ends up in a cache key."""
    text = json.dumps(settings.model_dump(mode="json"), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


#: Engines a host process opened itself and handed over (`use_engine`), by settings key.
_PROVIDED: dict[str, Any] = {}


def use_engine(engine: Engine) -> None:
    """Serve pages from `engine` for its settings, instead of opening one.

    For a process that embeds the dashboard or benchmarks it with an engine it built
    (a text-only encoder, a shared store). Call before the first page runs.
    """
    _PROVIDED[settings_key(engine.settings)] = engine


@st.cache_resource(show_spinner="Opening the collection…", max_entries=4)
def _open_engine(key: str, _settings: Any) -> Any:
    if key in _PROVIDED:
        return _PROVIDED[key]
    import binding.api as api

    return api.open(_settings)


@st.cache_resource(max_entries=4)
def _revision_box(key: str) -> list[int]:
    return [0]


def engine() -> Any:
    """The shared `Engine`; on a configuration error the page shows it and stops."""
    try:
        settings = current_settings()
        return _open_engine(settings_key(settings), settings)
    except Exception as exc:
        show_error("The engine could not start", exc)
        st.stop()


def revision() -> int:
    """How many changes this dashboard made to the collection (part of every cache key)."""
    return _revision_box(settings_key(engine().settings))[0]


def bump_revision() -> None:
    """Call after ingest, delete or any other change, so cached results are recomputed."""
    _revision_box(settings_key(engine().settings))[0] += 1
    _cached_info.clear()


#: Hints in library messages written for the command line, and what they mean here.
_CLI_HINTS = (
    (
        re.compile(
            r"give its modality \([^)]*\)(, or put the file under a folder named after its "
            r"modality)?"
        ),
        "say which modality it is",
    ),
    (re.compile(r"embed --modality text with the text itself"), "type it as a text term"),
    # any other aside that names a flag, and "or pass --flag"
    (re.compile(r"\s*\([^()]*?--[a-z][\w-]*[^()]*\)"), ""),
    (re.compile(r",?\s*\bor (?:pass|use|add|give) --[a-z][\w-]*(?:[ =][^\s,;)]+)?"), ""),
)


def ui_text(message: str) -> str:
    """A library message with its command-line hints (`--modality`) put in the page's terms."""
    for pattern, replacement in _CLI_HINTS:
        message = pattern.sub(replacement, message)
    return message


def ui_reason(exc: BaseException) -> str:
    """What went wrong, for a page: the error's reason (or text) without CLI hints."""
    return ui_text(str(getattr(exc, "reason", None) or exc) or type(exc).__name__)


def show_error(title: str, exc: BaseException) -> None:
    """An error as users should see it: what failed and why, the traceback folded away."""
    from binding.errors import BindingError

    reason = ui_text(str(exc) or type(exc).__name__)
    if isinstance(exc, BindingError):
        st.error(f"**{title}.** {reason}", icon=":material/error:")
    else:
        st.error(f"**{title}:** {type(exc).__name__}: {reason}", icon=":material/error:")
        with st.expander("Details"):
            st.exception(exc)


# --- info ----------------------------------------------------------------------------------


@st.cache_data(ttl=5, max_entries=8, show_spinner=False)
def _cached_info(key: str, rev: int, _engine: Engine) -> Any:
    return _engine.info()


def info() -> Any:
    """`engine().info()`, cached for a few seconds (the sidebar and banner read it each run)."""
    eng = engine()
    return _cached_info(settings_key(eng.settings), revision(), eng)


def is_distributed(settings: Any) -> bool:
    return bool(getattr(settings, "qdrant_url", None) or getattr(settings, "broker_url", None))


# --- uploads ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """An uploaded file kept in memory: its name is a label, never a path."""

    name: str
    data: bytes
    sha256: str

    @classmethod
    def of(cls, name: str, data: bytes) -> Upload:
        from binding.api import Engine

        return cls(Engine.label(name), bytes(data), hashlib.sha256(data).hexdigest())

    @property
    def extension(self) -> str:
        """The extension the sniffed content calls for ('' when unknown)."""
        from binding.api import Engine

        try:
            ext = Engine.extension_of(self.data)
        except Exception:
            ext = ""
        return ext if _SAFE_EXT.match(ext or "") else ""


def guess_modality(upload: Upload) -> tuple[str | None, str | None]:
    """(modality, None) when the bytes say it, else (None, why not): depth, thermal and
    some arrays need the user to say."""
    from binding.api import Engine

    try:
        return Engine.recognise(upload.data, name=upload.name).value, None
    except Exception as exc:
        return None, ui_reason(exc)


@contextlib.contextmanager
def materialised(uploads: Mapping[str, Upload]) -> Iterator[dict[str, str]]:
    """Each upload written to a private temporary folder under a generated name
    (`<sha256><ext>`), for the duration of a search: {upload name: path}."""
    folder = Path(tempfile.mkdtemp(prefix="binding-query-"))
    try:
        paths: dict[str, str] = {}
        for label, upload in uploads.items():
            target = folder / f"{upload.sha256}{upload.extension}"
            if not target.exists():
                target.write_bytes(upload.data)
            paths[label] = str(target)
        yield paths
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def relabelled(
    exc: BaseException, paths: Mapping[str, str], *, by_name: bool = True
) -> BaseException:
    """`exc` with every temporary path of `paths` ({upload name: path}) in its message
    replaced by the name of the file the user uploaded (and, with `by_name`, the temporary
    file's own name too); `exc` itself when none occurs."""

    def fix(text: str) -> str:
        for label, path in paths.items():
            text = text.replace(path, label)
            if by_name:
                text = text.replace(Path(path).name, label)
        return text

    if not any(isinstance(a, str) and fix(a) != a for a in exc.args):
        return exc
    # a shallow copy that skips __init__ (whose signature differs per class)
    fixed = type(exc).__new__(type(exc))
    fixed.__dict__.update(exc.__dict__)
    for name, value in vars(exc).items():
        if isinstance(value, str):
            setattr(fixed, name, fix(value))
    fixed.args = tuple(fix(a) if isinstance(a, str) else a for a in exc.args)
    return fixed


def bind_uploads(query: Any, paths: Mapping[str, str]) -> Any:
    """`query` with every file term that names an upload pointed at its temporary file.

    A file term naming anything else is refused: the dashboard never opens a path typed
    into it (files reach it only as uploads, and stored items by id).
    """
    from binding.query import FileInput, QueryError, Term

    terms = []
    for i, term in enumerate(query.terms):
        if isinstance(term.input, FileInput):
            path = paths.get(term.input.path)
            if path is None:
                raise QueryError(
                    f"term {i + 1} names the file {term.input.path!r}: upload it in a term row "
                    "first (the dashboard does not open files on the server by name)",
                    term=i,
                )
            term = Term(term.weight, term.modality, FileInput(path))
        terms.append(term)
    return replace(query, terms=tuple(terms))


# --- search ----------------------------------------------------------------------------------


@st.cache_data(max_entries=SEARCH_CACHE_ENTRIES, show_spinner=False)
def _cached_search(
    key: str,
    rev: int,
    written: str,
    upload_hashes: tuple[tuple[str, str], ...],
    explain: bool,
    _query: Any,
    _uploads: Mapping[str, Upload],
    _engine: Engine,
) -> Any:
    eng = _engine
    with materialised(_uploads) as paths:
        try:
            result = eng.search(bind_uploads(_query, paths), explain=explain)
        except Exception as exc:
            raise relabelled(exc, paths) from None
    # Show the query as the user wrote it, not with the temporary paths.
    return replace(result, query=_query)


def search(
    query: Any, uploads: Mapping[str, Upload] | None = None, *, explain: bool = False
) -> Any:
    """`engine().search(query)` with uploads bound, cached; raises what the engine raises."""
    from binding.query import format_query

    uploads = dict(uploads or {})
    eng = engine()
    written = format_query(query)
    hashes = tuple(sorted((name, u.sha256) for name, u in uploads.items()))
    return _cached_search(
        settings_key(eng.settings), revision(), written, hashes, explain, query, uploads, eng
    )


@st.cache_data(max_entries=SEARCH_CACHE_ENTRIES, show_spinner=False)
def _cached_more_like(
    key: str, rev: int, point_id: str, limit: int, modalities: tuple[str, ...], _engine: Engine
) -> Any:
    from binding.store.base import Filter

    where = Filter(modalities=frozenset(modalities)) if modalities else None
    return _engine.more_like(point_id, limit=limit, filter=where)


def more_like(point_id: str, *, limit: int, modalities: tuple[str, ...] = ()) -> Any:
    """Points nearest to a stored point (itself left out), cached."""
    eng = engine()
    return _cached_more_like(
        settings_key(eng.settings), revision(), str(point_id), limit, tuple(sorted(modalities)), eng
    )


def canonical_id(text: Any) -> str | None:
    """`text` as a point id (a UUID in its canonical form), or None when it is not one.

    For ids that come from outside the app (an address's `?point=`, a pasted id).
    """
    try:
        return str(UUID(str(text).strip()))
    except (ValueError, TypeError, AttributeError):
        return None


def point(point_id: str) -> Any | None:
    """A stored point (with its vector), or None when it is gone or `point_id` is no id."""
    canonical = canonical_id(point_id)
    if canonical is None:
        return None
    found = engine().points([canonical], with_vectors=True)
    return found[0] if found else None


@st.cache_data(max_entries=256, show_spinner=False)
def _cached_names(key: str, rev: int, ids: tuple[str, ...], _engine: Engine) -> dict[str, str]:
    from dashboard.components.previews import display_name

    found = _engine.points(list(ids))
    return {str(p.id): f"{display_name(p.payload)} · {p.payload.get('modality')}" for p in found}


def point_names(ids: tuple[str, ...]) -> dict[str, str]:
    """{id: "name · modality"} for the stored points among `ids` (bad ids are left out)."""
    good = [c for c in (canonical_id(i) for i in ids) if c is not None]
    if not good:
        return {}
    eng = engine()
    return _cached_names(settings_key(eng.settings), revision(), tuple(sorted(good)), eng)
