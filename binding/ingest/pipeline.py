"""Files in, points out: collect, sniff, deduplicate, decode, batch, embed, store.

Every file ends in exactly one of three outcomes: `embedded` (its points are in the store
and its bytes in the media store), `duplicate` (its whole-file point was already there, or
an earlier file of the same run had the same content) or `rejected` (with the reason).
A bad file never stops the others.

How a run goes:
1. sources (files, folders, globs) become a list of files, in a stable order;
2. each file is hashed and its modality sniffed from its bytes (or given, or taken from a
   `depth/` or `thermal/` folder, which bytes cannot tell from an image);
3. the whole-file point ids are looked up in the store: stored content is a duplicate;
4. the other files are decoded and preprocessed in a thread pool, ahead of the network;
5. their network items are grouped by modality and run in full batches across files;
6. when every point of a file is embedded, its bytes are copied into the media store, its
   points upserted and its outcome reported.

Long audio and video also get one point per `segment_seconds` window, and IMU recordings
one point per 5 s window, besides the whole-file point, so a query can find the moment.
A video's windows are decoded and preprocessed one at a time, as the network takes them,
so the memory of a run does not grow with a video's length.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

import numpy as np

from binding.config import Settings
from binding.errors import InputError
from binding.ingest.collect import UPLOAD_PREFIX, FileItem, collect
from binding.ingest.expand import generic_expansion
from binding.ingest.outcomes import FileOutcome, IngestReport, Progress
from binding.media import MediaStore, check_sha256, hash_file
from binding.modality import Modality, modality_spec, parse_modality
from binding.points import WHOLE, clean_tags, display_name, make_payload, point_id, segment_label
from binding.store.base import Filter, Point
from binding.store.space import DiskFullError, free_bytes, is_disk_full

if TYPE_CHECKING:
    import torch

    from binding.encoder import ClipSum, Encoder
    from binding.store.base import Store

log = logging.getLogger(__name__)

#: Points looked up per store call when checking for duplicates.
_LOOKUP_CHUNK = 256

#: Files hashed, checked and embedded together; bounds the memory a run holds.
CHUNK_FILES = 256


class IngestContext(Protocol):
    """What ingest needs: an `Engine` has all of it (a worker may build its own)."""

    settings: Settings
    model: str
    media: MediaStore

    @property
    def encoder(self) -> Encoder: ...

    @property
    def store(self) -> Store: ...


# --- per-file work -------------------------------------------------------------------------


@dataclass
class _Unit:
    """One point of a file: the whole file or a segment, with its network items."""

    start: float | None
    end: float | None
    items: torch.Tensor | None  # (S, *item_shape); None once handed to a batcher
    result: ClipSum | None = None  # the clips' outputs, summed as their batches run

    @property
    def segment(self) -> str:
        return (
            WHOLE if self.start is None or self.end is None else segment_label(self.start, self.end)
        )


@dataclass
class FilePlan:
    """A file that passed the checks: what to embed, and what to write once it is."""

    index: int
    item: FileItem
    modality: Modality
    sha256: str
    size: int
    mime: str | None
    ext: str
    units: list[_Unit] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    whole_from_segments: bool = False  # IMU: the whole point is the mean of its windows
    media: str | None = None
    #: Units decoded only when asked for, after `units` (a long video's windows); closed
    #: once consumed or dropped.
    more: Any = None

    @property
    def open_units(self) -> int:
        """Units with network items not yet forwarded."""
        return sum(1 for u in self.units if u.result is None or not u.result.done)


def _sniff(item: FileItem) -> tuple[Modality, str | None, str]:
    """Modality, MIME type and stored extension of a file, from its bytes (and folder).

    A modality given by the caller wins; then a folder named in a spec (`depth/`,
    `thermal/`, a trained modality's name), for files of the media categories or suffixes
    that spec claims (bytes cannot say which map or array they are); then the bytes alone.
    """
    from binding.io.sniff import HEAD_BYTES, detect_modality, sniff

    with open(item.path, "rb") as f:
        kind = sniff(f.read(HEAD_BYTES))
    mime, ext = (kind.mime, kind.extension) if kind is not None else (None, "")
    if item.modality is not None:
        return item.modality, mime, ext
    if item.folder_modality is not None:
        spec = modality_spec(item.folder_modality)
        if (kind is not None and kind.category in spec.folder_categories) or (
            item.path.suffix.lower() in spec.suffixes
        ):
            return item.folder_modality, mime, ext
    return detect_modality(item.path, name=item.name), mime, ext


def file_modality(path: Path | str) -> Modality:
    """The modality ingest gives one file named on its own: from its bytes, and for a
    picture or array, a `depth/` or `thermal/` folder it sits in (`embed` follows it too).
    Raises `InputError` when neither can tell."""
    from binding.ingest.collect import folder_modality, local_path

    resolved = local_path(path)
    item = FileItem(
        path=resolved,
        source=str(resolved),
        name=resolved.name,
        folder_modality=folder_modality(resolved, resolved.parent),
    )
    try:
        return _sniff(item)[0]
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None


def inspect_file(
    index: int, item: FileItem, settings: Settings, model: str
) -> FilePlan | FileOutcome:
    """Hash, size-check and sniff one file (cheap: no decoding)."""
    try:
        if not item.path.is_file():
            raise InputError(item.source, "no such file")
        sha256, size = hash_file(item.path, max_bytes=settings.max_upload_bytes)
        if size == 0:
            raise InputError(item.source, "empty file (0 bytes)")
        if item.sha256 is not None and check_sha256(item.sha256) != sha256:
            raise InputError(item.source, "the stored file does not match its hash (corrupt)")
        modality, mime, ext = _sniff(item)
        point_id(model, modality, sha256)  # validates the modality early
    except InputError as error:
        return FileOutcome(item.source, "rejected", error.reason, sha256=item.sha256)
    except OSError as error:
        return FileOutcome(item.source, "rejected", f"cannot read: {error.strerror or error}")
    except Exception as error:  # a sniffing bug must not stop the batch; keep its trace
        log.exception("unexpected error while inspecting %s", item.source)
        return FileOutcome(item.source, "rejected", f"{type(error).__name__}: {error}")
    return FilePlan(index, item, modality, sha256, size, mime, ext)


def expand_plan(plan: FilePlan, settings: Settings) -> None:
    """Decode and preprocess a file into its units (whole file, then segments) and facts,
    as its modality's spec says (`expand`, else decode + preprocess)."""
    spec = modality_spec(plan.modality)
    label = plan.item.source
    if spec.expand is not None:
        expansion = spec.expand(plan.item.path, label, settings)
    else:
        expansion = generic_expansion(spec, plan.item.path, label)
    plan.facts.update(expansion.facts)
    plan.whole_from_segments = expansion.whole_from_segments
    plan.units.extend(_Unit(start, end, items) for start, end, items in expansion.units)
    plan.more = expansion.more
    if plan.item.caption is not None:
        plan.facts["caption"] = plan.item.caption


def _prepare(plan: FilePlan, settings: Settings) -> tuple[FilePlan, str | None]:
    """Decode and preprocess in a pool thread: the plan, and why it failed (None if it did not)."""
    try:
        expand_plan(plan, settings)
    except InputError as error:
        return plan, error.reason
    except MemoryError:
        return plan, "too large to decode in memory"
    except Exception as error:  # a decoder bug must not stop the batch; keep its trace
        log.exception("unexpected error while decoding %s", plan.item.source)
        return plan, f"cannot decode: {type(error).__name__}: {error}"
    return plan, None


def _rejected(plan: FilePlan, reason: str) -> FileOutcome:
    return FileOutcome(plan.item.source, "rejected", reason, plan.modality.value, plan.sha256)


# --- batching across files -----------------------------------------------------------------


def _unit_vector(raw: np.ndarray) -> np.ndarray | None:
    """Unit vector of a raw output, or None for a zero or non-finite one."""
    norm = float(np.linalg.norm(raw))
    if not np.isfinite(raw).all() or norm < 1e-12:
        return None
    return (raw / norm).astype(np.float32)


def _points(plan: FilePlan, model: str, now: float) -> list[Point]:
    """The file's points, segments first and the whole-file point last (see `_write`)."""

    def payload(start: float | None, end: float | None) -> dict[str, Any]:
        return make_payload(
            model=model,
            modality=plan.modality,
            source=plan.item.source,
            name=plan.item.name,
            sha256=plan.sha256,
            mime=plan.mime,
            size=plan.size,
            media=plan.media,
            time=now,
            tags=plan.item.tags,
            facts=plan.facts,
            start=start,
            end=end,
        )

    units = list(plan.units)
    if plan.whole_from_segments:  # the reference's average over every window of the file
        from binding.encoder import ClipSum

        whole = ClipSum.merged([u.result for u in units if u.result is not None])
        units.append(_Unit(None, None, None, result=whole))
    points: list[Point] = []
    for unit in sorted(units, key=lambda u: u.start is None):  # segments first, whole last
        assert unit.result is not None
        vector = _unit_vector(unit.result.mean())
        if vector is None:
            raise InputError(plan.item.source, "the network returned a zero or non-finite vector")
        points.append(
            Point(
                id=point_id(model, plan.modality, plan.sha256, unit.segment),
                vector=vector,
                payload=payload(unit.start, unit.end),
            )
        )
    return points


# --- the run -------------------------------------------------------------------------------


def _ordered(
    pool: ThreadPoolExecutor, work: Callable[[Any], Any], inputs: Iterable[Any], ahead: int
) -> Iterator[Any]:
    """`pool.map` that keeps at most `ahead` inputs in flight (decoded media is large)."""
    pending: list[Future[Any]] = []
    for value in inputs:
        pending.append(pool.submit(work, value))
        if len(pending) >= ahead:
            yield pending.pop(0).result()
    for future in pending:
        yield future.result()


def _stored_tags(store: Store, ids: list[UUID]) -> dict[UUID, set[str]]:
    """The tags of each of these points that is stored (missing ids left out)."""
    found: dict[UUID, set[str]] = {}
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        chunk = ids[start : start + _LOOKUP_CHUNK]
        for p in store.retrieve(chunk, with_vectors=False):
            found[p.id] = set(p.payload.get("tags") or ())
    return found


def _add_tags(store: Store, modality: Modality, sha256: str, tags: Iterable[str]) -> None:
    """Give every stored point of this content (whole file and windows) these tags too.

    Ingesting stored content again with new tags adds them instead of dropping them. The
    points are written again whole, so each store derives what it derives from tags.
    """
    where = Filter(modalities=frozenset({modality.value}), sha256=sha256)
    points = list(store.scroll(filter=where, with_vectors=True))
    for p in points:
        p.payload["tags"] = sorted(set(p.payload.get("tags") or ()) | set(tags))
    store.upsert(points)


def ingest_items(
    context: IngestContext, items: Sequence[FileItem], *, progress: Progress | None = None
) -> list[FileOutcome]:
    """Ingest files; one outcome per item, in the items' order.

    Files go through in chunks of `CHUNK_FILES`: hashing, the duplicate check and
    embedding start early and the memory held stays bounded, however many files there are.
    """
    settings, model = context.settings, context.model
    run = _Run(model, progress)
    workers = max(1, settings.ingest_workers)

    def inspect(index: int) -> tuple[int, FilePlan | FileOutcome]:
        return index, inspect_file(index, items[index], settings, model)

    with ThreadPoolExecutor(workers, thread_name_prefix="binding-ingest") as pool:
        for first in range(0, len(items), CHUNK_FILES):
            chunk = range(first, min(first + CHUNK_FILES, len(items)))
            plans: list[FilePlan] = []
            for index, result in _ordered(pool, inspect, chunk, 4 * workers):
                if isinstance(result, FileOutcome):
                    run.report(index, result)
                else:
                    plans.append(result)
            plans = run.first_copies(context, plans)
            if plans:
                _embed_plans(context, pool, plans, run.report, ahead=2 * workers)
    return [run.outcomes[i] for i in range(len(items))]


class _Run:
    """Outcomes of one ingest run, and the files waiting on an earlier file of the same content."""

    def __init__(self, model: str, progress: Progress | None) -> None:
        self.model = model
        self.progress = progress
        self.outcomes: dict[int, FileOutcome] = {}
        self.first: dict[UUID, int] = {}  # whole-file point id -> index of the run's first file
        self.copies: dict[int, list[FilePlan]] = {}  # index of a first file -> its later copies

    def report(self, index: int, outcome: FileOutcome) -> None:
        self.outcomes[index] = outcome
        if self.progress is not None:
            self.progress(outcome)
        for copy in self.copies.pop(index, []):
            self._settle_copy(copy, outcome)

    def _settle_copy(self, copy: FilePlan, original: FileOutcome) -> None:
        """A copy shares its original's fate: stored once, or rejected for the same reason."""
        reason = f"same content as {original.source}"
        if original.status == "rejected":
            self.report(copy.index, _rejected(copy, f"{reason}: {original.reason}"))
            return
        pid = point_id(self.model, copy.modality, copy.sha256)
        self.report(copy.index, _duplicate(copy, reason, pid))

    def first_copies(self, context: IngestContext, plans: list[FilePlan]) -> list[FilePlan]:
        """The plans to embed: neither stored already nor a copy of an earlier file of the run."""
        whole = [point_id(context.model, p.modality, p.sha256) for p in plans]
        fresh_ids = [pid for pid in dict.fromkeys(whole) if pid not in self.first]
        stored = _stored_tags(context.store, fresh_ids) if fresh_ids else {}
        fresh: list[FilePlan] = []
        for plan, pid in zip(plans, whole, strict=True):
            original = self.first.get(pid)
            if original is not None:
                if original in self.outcomes:
                    self._settle_copy(plan, self.outcomes[original])
                else:
                    self.copies.setdefault(original, []).append(plan)
            elif pid in stored:
                reason = "already in the store"
                new_tags = sorted(set(plan.item.tags) - stored[pid])
                if new_tags:
                    _add_tags(context.store, plan.modality, plan.sha256, new_tags)
                    stored[pid].update(new_tags)  # a later copy in this chunk has them
                    reason += f"; tags added: {', '.join(new_tags)}"
                self.report(plan.index, _duplicate(plan, reason, pid))
            else:
                self.first[pid] = plan.index
                fresh.append(plan)
        return fresh


def _duplicate(plan: FilePlan, reason: str, pid: UUID) -> FileOutcome:
    return FileOutcome(
        plan.item.source, "duplicate", reason, plan.modality.value, plan.sha256, ids=[pid]
    )


def _embed_plans(
    context: IngestContext,
    pool: ThreadPoolExecutor,
    plans: list[FilePlan],
    report: Callable[[int, FileOutcome], None],
    *,
    ahead: int,
) -> None:
    settings = context.settings
    encoder = context.encoder
    from binding.encoder import ClipBatcher  # torch is imported only when there is work

    batches: dict[Modality, ClipBatcher] = {}
    waiting: list[FilePlan] = []  # every unit handed to a batch, not yet all forwarded

    def write_finished() -> None:
        done = [p for p in waiting if p.open_units == 0]
        if done:
            waiting[:] = [p for p in waiting if p.open_units > 0]
            _write(context, done, report)

    for plan, reason in _ordered(pool, lambda plan: _prepare(plan, settings), plans, ahead):
        if reason is not None:
            plan.units.clear()  # free the decoded media
            report(plan.index, _rejected(plan, reason))
            continue
        batch = batches.get(plan.modality)
        if batch is None:
            batch = batches[plan.modality] = ClipBatcher(encoder, plan.modality)
        waiting.append(plan)
        for unit in plan.units:
            assert unit.items is not None
            unit.result = batch.add(unit.items)
            unit.items = None  # free the decoded media
        reason = _add_lazy_units(plan, batch)
        if reason is not None:
            waiting.remove(plan)  # its clips already queued are forwarded and dropped
            report(plan.index, _rejected(plan, reason))
        write_finished()
    for batch in batches.values():
        batch.finish()
    write_finished()
    assert not waiting, "every unit is forwarded by finish()"


def _add_lazy_units(plan: FilePlan, batch: Any) -> str | None:
    """Decode, preprocess and queue a plan's lazy units one by one; why that failed, or None."""
    more, plan.more = plan.more, None
    if more is None:
        return None
    try:
        for start, end, items in more:
            unit = _Unit(start, end, items)
            plan.units.append(unit)
            assert unit.items is not None
            unit.result = batch.add(unit.items)
            unit.items = None  # only the batch's share of this window stays in memory
    except InputError as error:
        return error.reason
    except MemoryError:
        return "too large to decode in memory"
    except Exception as error:  # a decoder bug must not stop the batch; keep its trace
        log.exception("unexpected error while decoding %s", plan.item.source)
        return f"cannot decode: {type(error).__name__}: {error}"
    finally:
        more.close()
    return None


def _write(
    context: IngestContext, plans: list[FilePlan], report: Callable[[int, FileOutcome], None]
) -> None:
    """Keep the files' bytes, then upsert their points (segments before the whole-file
    point, whose presence is what marks a file as done), then report them."""
    ready: list[tuple[FilePlan, list[Point]]] = []
    for plan in plans:
        try:
            stored = context.media.put_file(plan.item.path, ext=plan.ext, sha256=plan.sha256)
            if stored.sha256 != plan.sha256:
                raise InputError(plan.item.source, "the file changed while it was being ingested")
            plan.media = stored.relative
            ready.append((plan, _points(plan, context.model, time.time())))
        except InputError as error:
            report(plan.index, _rejected(plan, error.reason))
        except OSError as error:
            if is_disk_full(error):  # not the file's fault: stop the run, say where and why
                free = free_bytes(context.media.root)
                raise DiskFullError(
                    context.media.root, plan.size, free, "the media store"
                ) from error
            report(plan.index, _rejected(plan, f"cannot keep the file: {error.strerror or error}"))
    if not ready:
        return
    context.store.upsert([point for _, points in ready for point in points], wait=True)
    for plan, points in ready:
        report(
            plan.index,
            FileOutcome(
                plan.item.source,
                "embedded",
                None,
                plan.modality.value,
                plan.sha256,
                points=len(points),
                ids=[p.id for p in points],
            ),
        )


# --- entry points --------------------------------------------------------------------------


def ingest_paths(
    context: IngestContext,
    sources: Sequence[str | Path],
    *,
    modality: Modality | str | None = None,
    tags: Sequence[str] = (),
    recursive: bool = True,
    captions: bool = True,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest files, folders and glob patterns; see the module docstring. With `captions`,
    a text file beside a media file of the same name is that file's caption (see
    `binding.ingest.collect`), not a document of its own."""
    kind = None if modality is None else parse_modality(str(modality))
    items, missing = collect(
        sources,
        modality=kind,
        tags=tags,
        recursive=recursive,
        captions=captions,
        skip=[context.media.root, Path(context.settings.data_dir) / "store"],
        follow_symlinks=context.settings.follow_symlinks,
    )
    for outcome in missing:
        if progress is not None:
            progress(outcome)
    return IngestReport(missing + ingest_items(context, items, progress=progress))


def embed_stored_file(
    context: IngestContext,
    sha256: str,
    name: str,
    modality: Modality | str | None = None,
    tags: Sequence[str] = (),
) -> FileOutcome:
    """Ingest a file already in the media store (what a worker is handed: ids, not bytes).

    `name` is the upload's name, kept only as a display string. Idempotent: a second call
    for the same content reports a duplicate. A file that no point refers to after a
    rejection is removed from the media store.
    """
    digest = check_sha256(sha256)
    label = display_name(name)
    source = UPLOAD_PREFIX + label
    found = context.media.find(digest)
    if found is None:
        return FileOutcome(source, "rejected", "no such file in the media store", sha256=digest)
    kind = None if modality is None else parse_modality(str(modality))
    item = FileItem(
        path=found.path,
        source=source,
        name=label,
        modality=kind,
        tags=tuple(clean_tags(list(tags))),
        sha256=digest,
    )
    (outcome,) = ingest_items(context, [item])
    if outcome.status == "rejected" and context.store.count(Filter(sha256=digest)) == 0:
        context.media.delete(digest)
    return outcome


def ingest_bytes(
    context: IngestContext,
    name: str,
    data: bytes,
    *,
    modality: Modality | str | None = None,
    tags: Sequence[str] = (),
) -> FileOutcome:
    """Ingest uploaded bytes: kept under their hash in the media store, then embedded.

    The upload's `name` is only a display string (never a path). Oversized data is refused
    before anything is written.
    """
    label = display_name(name)
    source = UPLOAD_PREFIX + label
    limit = context.settings.max_upload_bytes
    if len(data) > limit:
        return FileOutcome(
            source, "rejected", f"{len(data):,} bytes is larger than the limit of {limit:,}"
        )
    if not data:
        return FileOutcome(source, "rejected", "empty upload (0 bytes)")
    from binding.io.sniff import HEAD_BYTES, sniff

    kind = sniff(data[:HEAD_BYTES])
    if kind is None and modality is None:
        return FileOutcome(source, "rejected", "unrecognised content (not a known media format)")
    stored = context.media.put_bytes(data, ext=kind.extension if kind else None, source=source)
    return embed_stored_file(context, stored.sha256, name, modality, tags)
