"""Where ingest and query embedding run: in this process, or on Celery workers.

    executor = executor_for(engine)         # chosen once, by BINDING_BROKER_URL; holds `engine`
    report = executor.ingest(["~/photos"], progress=print)
    job_id = executor.submit_bytes("beach.jpg", data)
    engine.jobs.status(job_id)

`InProcessExecutor` (embedded mode) runs the library here. `QueueExecutor` (distributed
mode) hashes and sniffs each file here, keeps it in the media store (a volume the workers
share), records a job in Redis, and sends one task per `task_files` files of one modality to
the `embed` queue; workers embed them and record each file's outcome in the job. Query
inputs go to the `query` queue, so a process that only queries never loads the model.

An `Engine` chooses its executor once (`executor_for`) and delegates to it; the executor
works on the engine's parts (`ExecutorContext`: settings, model, media, encoder, store) and
never calls back into the facade. This module never imports Celery or `workers/`: the
queue executor sends through a `binding.dispatch.Dispatcher`, which the distributed mode
registers as an entry point (or a caller hands in).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from binding.dispatch import Dispatcher, find_dispatcher
from binding.errors import ConfigurationError, InputError
from binding.ingest import FileOutcome, IngestContext, IngestReport
from binding.jobs import Jobs
from binding.modality import Modality, parse_modality

if TYPE_CHECKING:
    from binding.config import Settings

Progress = Callable[[FileOutcome], None]

#: Largest file sent through the `query` queue inside a message (a query image or clip).
MAX_QUERY_INPUT_BYTES = 32 << 20

#: Seconds a query waits for a worker to embed its inputs.
QUERY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class StoredFile:
    """One file of a job, as a task carries it: ids and names, never bytes."""

    index: int  # position in the job
    sha256: str  # media-store key
    name: str  # display name
    source: str  # the payload's `source` (the client's path, or `upload:<name>`)
    modality: str | None = None  # decided by the client (given, folder or sniffed)
    tags: tuple[str, ...] = ()
    caption: str | None = None  # from a sidecar text file beside it

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["tags"] = list(self.tags)
        return row

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> StoredFile:
        return cls(
            index=int(row["index"]),
            sha256=str(row["sha256"]),
            name=str(row["name"]),
            source=str(row["source"]),
            modality=None if row.get("modality") is None else str(row["modality"]),
            tags=tuple(str(t) for t in row.get("tags") or ()),
            caption=None if row.get("caption") is None else str(row["caption"]),
        )


def embed_stored_files(context: IngestContext, files: Sequence[StoredFile]) -> list[FileOutcome]:
    """Embed files already in the media store (what a worker runs); one outcome per file.

    The files share forward passes. Idempotent: content already stored is reported as a
    duplicate and its point is not written twice. A rejected file that no point refers to
    is removed from the media store.
    """
    from binding.ingest import FileItem, ingest_items
    from binding.media import check_sha256
    from binding.points import clean_tags, display_name
    from binding.store.base import Filter

    outcomes: dict[int, FileOutcome] = {}
    items: list[tuple[int, FileItem]] = []
    for position, f in enumerate(files):
        try:
            digest = check_sha256(f.sha256)
            kind = None if f.modality is None else parse_modality(f.modality)
            tags = tuple(clean_tags(list(f.tags)))
        except (InputError, ValueError) as error:
            outcomes[position] = FileOutcome(f.source, "rejected", str(error), sha256=f.sha256)
            continue
        found = context.media.find(digest)
        if found is None:
            outcomes[position] = FileOutcome(
                f.source, "rejected", "no such file in the media store", sha256=digest
            )
            continue
        item = FileItem(
            path=found.path,
            source=f.source,
            name=display_name(f.name),
            modality=kind,
            tags=tags,
            sha256=digest,
            caption=f.caption,
        )
        items.append((position, item))
    if items:
        results = ingest_items(context, [item for _, item in items])
        for (position, _), outcome in zip(items, results, strict=True):
            outcomes[position] = outcome
    for outcome in outcomes.values():
        if (
            outcome.status == "rejected"
            and outcome.sha256
            and outcome.sha256 in context.media
            and context.store.count(Filter(sha256=outcome.sha256)) == 0
        ):
            context.media.delete(outcome.sha256)
    return [outcomes[i] for i in range(len(files))]


class ExecutorContext(IngestContext, Protocol):
    """The engine parts an executor works on: an `Engine` has all of them."""

    dim: int


class Executor(Protocol):
    """Runs ingest and query embedding for an `Engine`; see the module docstring."""

    name: str
    jobs: Jobs

    def ingest(
        self,
        sources: Sequence[str | Path],
        *,
        modality: Modality | str | None = None,
        tags: Sequence[str] = (),
        recursive: bool = True,
        captions: bool = True,
        progress: Progress | None = None,
        timeout: float | None = None,
    ) -> IngestReport:
        """Ingest files, folders and globs and wait for every outcome."""
        ...

    def submit(
        self,
        sources: Sequence[str | Path],
        *,
        modality: Modality | str | None = None,
        tags: Sequence[str] = (),
        recursive: bool = True,
        captions: bool = True,
    ) -> str:
        """Start an ingest job and return its id (see `jobs.status`)."""
        ...

    def submit_bytes(
        self,
        name: str,
        data: bytes,
        *,
        modality: Modality | str | None = None,
        tags: Sequence[str] = (),
    ) -> str:
        """Start a job for one upload and return its id."""
        ...

    def ingest_bytes(
        self,
        name: str,
        data: bytes,
        *,
        modality: Modality | str | None = None,
        tags: Sequence[str] = (),
    ) -> FileOutcome:
        """Embed one upload and wait for its outcome."""
        ...

    def embed(self, modality: Modality, inputs: Sequence[Any]) -> np.ndarray:
        """Unit vectors (N, D) float32 for query inputs (texts, paths or bytes)."""
        ...

    def close(self) -> None: ...


class InProcessExecutor:
    """Embedded mode: everything runs in the calling process; jobs are kept in memory."""

    name = "in-process"

    def __init__(self, engine: ExecutorContext) -> None:
        self.engine = engine
        self.settings: Settings = engine.settings
        self.jobs = Jobs()

    def ingest(
        self,
        sources: Sequence[str | Path],
        *,
        modality: Modality | str | None = None,
        tags: Sequence[str] = (),
        recursive: bool = True,
        captions: bool = True,
        progress: Progress | None = None,
        timeout: float | None = None,
    ) -> IngestReport:
        from binding.ingest import ingest_paths

        return ingest_paths(
            self.engine,
            sources,
            modality=modality,
            tags=tags,
            recursive=recursive,
            captions=captions,
            progress=progress,
        )

    def submit(
        self,
        sources: Sequence[str | Path],
        *,
        modality: Modality | str | None = None,
        tags: Sequence[str] = (),
        recursive: bool = True,
        captions: bool = True,
    ) -> str:
        """Runs the ingest now (in this process) and returns the finished job's id."""
        from binding.ingest import collect, ingest_items

        kind = None if modality is None else parse_modality(str(modality))
        items, missing = collect(
            sources,
            modality=kind,
            tags=tags,
            recursive=recursive,
            follow_symlinks=self.settings.follow_symlinks,
            captions=captions,
        )
        job_id = self.jobs.create(len(items) + len(missing))
        for index, outcome in enumerate(missing):
            self.jobs.record(job_id, index, outcome)
        for offset, outcome in enumerate(ingest_items(self.engine, items)):
            self.jobs.record(job_id, len(missing) + offset, outcome)
        return job_id

    def submit_bytes(
        self,
        name: str,
        data: bytes,
        *,
        modality: Modality | str | None = None,
        tags: Sequence[str] = (),
    ) -> str:
        """Embeds the upload now and returns the finished job's id."""
        job_id = self.jobs.create(1)
        outcome = self.ingest_bytes(name, data, modality=modality, tags=tags)
        self.jobs.record(job_id, 0, outcome)
        return job_id

    def ingest_bytes(
        self,
        name: str,
        data: bytes,
        *,
        modality: Modality | str | None = None,
        tags: Sequence[str] = (),
    ) -> FileOutcome:
        """Embeds the upload here and returns its outcome."""
        from binding.ingest import ingest_bytes

        return ingest_bytes(self.engine, name, data, modality=modality, tags=tags)

    def embed(self, modality: Modality, inputs: Sequence[Any]) -> np.ndarray:
        return np.asarray(self.engine.encoder.embed(modality, inputs))

    def close(self) -> None:
        self.jobs.close()


class QueueExecutor:
    """Distributed mode: files go to the media store, tasks to Celery workers via Redis."""

    name = "celery"

    def __init__(self, engine: ExecutorContext, *, dispatcher: Dispatcher | None = None) -> None:
        """`dispatcher` sends the tasks; by default the one registered under the entry point
        `binding.dispatchers:celery` (the distributed extra), made on first use."""
        settings = engine.settings
        if not settings.broker_url:
            raise ConfigurationError("the queue executor needs BINDING_BROKER_URL")
        self.engine = engine
        self.settings: Settings = settings
        records = settings.records_url()
        if not records:
            raise ConfigurationError(
                "with an amqp:// BINDING_BROKER_URL, set BINDING_REDIS_URL to the Redis that "
                "keeps job records, e.g. redis://:PASSWORD@redis:6379/0"
            )
        self.jobs = Jobs(records)
        self._dispatcher: Dispatcher | None = dispatcher

    @property
    def dispatcher(self) -> Dispatcher:
        """The dispatcher the tasks go through (found and made on first use)."""
        if self._dispatcher is None:
            self._dispatcher = find_dispatcher()(self.settings)
        return self._dispatcher

    # -- ingest ---------------------------------------------------------------------------

    def _planned(
        self,
        sources: Sequence[str | Path],
        *,
        modality: Modality | str | None,
        tags: Sequence[str],
        recursive: bool,
        captions: bool = True,
    ) -> tuple[int, Iterator[tuple[int, StoredFile | FileOutcome]]]:
        """The job's size, and each file as it is ready: hashed, sniffed and kept in the media
        store (a `StoredFile` to send), or its outcome when that is known already (missing,
        unreadable, the same content twice in this job)."""
        from binding.ingest import collect, inspect_file
        from binding.points import point_id

        engine = self.engine
        kind = None if modality is None else parse_modality(str(modality))
        items, missing = collect(
            sources,
            modality=kind,
            tags=tags,
            recursive=recursive,
            follow_symlinks=self.settings.follow_symlinks,
            captions=captions,
        )

        def files() -> Iterator[tuple[int, StoredFile | FileOutcome]]:
            yield from enumerate(missing)
            first: dict[tuple[str, str], str] = {}
            for position, item in enumerate(items):
                index = len(missing) + position
                plan = inspect_file(index, item, self.settings, engine.model)
                if isinstance(plan, FileOutcome):
                    yield index, plan
                    continue
                key = (plan.modality.value, plan.sha256)
                if key in first:
                    pid = point_id(engine.model, plan.modality, plan.sha256)
                    reason = f"same content as {first[key]}"
                    yield (
                        index,
                        FileOutcome(
                            item.source, "duplicate", reason, key[0], plan.sha256, ids=[pid]
                        ),
                    )
                    continue
                try:
                    stored = engine.media.put_file(item.path, ext=plan.ext, sha256=plan.sha256)
                except (InputError, OSError) as error:
                    reason = error.reason if isinstance(error, InputError) else str(error)
                    yield (
                        index,
                        FileOutcome(
                            item.source,
                            "rejected",
                            f"cannot keep the file: {reason}",
                            sha256=plan.sha256,
                        ),
                    )
                    continue
                if stored.sha256 != plan.sha256:
                    yield (
                        index,
                        FileOutcome(
                            item.source, "rejected", "the file changed while it was being read"
                        ),
                    )
                    continue
                first[key] = item.source
                yield (
                    index,
                    StoredFile(
                        index=index,
                        sha256=plan.sha256,
                        name=item.name,
                        source=item.source,
                        modality=key[0],
                        tags=item.tags,
                        caption=item.caption,
                    ),
                )

        return len(items) + len(missing), files()

    def _plan(
        self,
        sources: Sequence[str | Path],
        *,
        modality: Modality | str | None,
        tags: Sequence[str],
        recursive: bool,
        captions: bool = True,
    ) -> tuple[list[StoredFile], dict[int, FileOutcome], int]:
        """`_planned` gathered: the files to send, the known outcomes, the job's size."""
        total, planned = self._planned(
            sources, modality=modality, tags=tags, recursive=recursive, captions=captions
        )
        files: list[StoredFile] = []
        known: dict[int, FileOutcome] = {}
        for index, entry in planned:
            if isinstance(entry, FileOutcome):
                known[index] = entry
            else:
                files.append(entry)
        return files, known, total

    def _send(self, job_id: str, files: list[StoredFile]) -> None:
        """One task per `task_files` files of one modality (so batches fill up)."""
        per_task = max(1, self.settings.task_files)
        by_modality: dict[str, list[StoredFile]] = {}
        for f in files:
            by_modality.setdefault(f.modality or "", []).append(f)
        for group in by_modality.values():
            for start in range(0, len(group), per_task):
                chunk = group[start : start + per_task]
                self.dispatcher.send_files(job_id, [f.to_dict() for f in chunk])

    def submit(
        self,
        sources: Sequence[str | Path],
        *,
        modality: Modality | str | None = None,
        tags: Sequence[str] = (),
        recursive: bool = True,
        captions: bool = True,
    ) -> str:
        """Record the job, then send each task as soon as its files are kept, so workers
        start while later files are still being hashed and copied."""
        total, planned = self._planned(
            sources, modality=modality, tags=tags, recursive=recursive, captions=captions
        )
        job_id = self.jobs.create(total)
        per_task = max(1, self.settings.task_files)
        waiting: dict[str, list[StoredFile]] = {}  # modality -> files not sent yet
        for index, entry in planned:
            if isinstance(entry, FileOutcome):
                self.jobs.record(job_id, index, entry)
                continue
            group = waiting.setdefault(entry.modality or "", [])
            group.append(entry)
            if len(group) >= per_task:
                self._send(job_id, group)
                waiting[entry.modality or ""] = []
        for group in waiting.values():
            if group:
                self._send(job_id, group)
        return job_id

    def retry(self, job_id: str) -> int:
        """Send a job's failed files (infrastructure failures) to the workers again; returns
        how many. Each is pending again until a worker records its new outcome."""
        files = [StoredFile.from_dict(row) for row in self.jobs.retry_failed(job_id)]
        if files:
            self._send(job_id, files)
        return len(files)

    def ingest(
        self,
        sources: Sequence[str | Path],
        *,
        modality: Modality | str | None = None,
        tags: Sequence[str] = (),
        recursive: bool = True,
        captions: bool = True,
        progress: Progress | None = None,
        timeout: float | None = None,
    ) -> IngestReport:
        job_id = self.submit(
            sources, modality=modality, tags=tags, recursive=recursive, captions=captions
        )
        self.jobs.wait(job_id, progress=progress, timeout=timeout)
        return self.jobs.report(job_id)

    def submit_bytes(
        self,
        name: str,
        data: bytes,
        *,
        modality: Modality | str | None = None,
        tags: Sequence[str] = (),
    ) -> str:
        from binding.ingest import UPLOAD_PREFIX
        from binding.io.sniff import HEAD_BYTES, sniff
        from binding.points import clean_tags, display_name

        label = display_name(name)
        source = UPLOAD_PREFIX + label
        job_id = self.jobs.create(1, kind="upload")
        limit = self.settings.max_upload_bytes
        kind = sniff(data[:HEAD_BYTES]) if data else None
        reason = None
        if len(data) > limit:
            reason = f"{len(data):,} bytes is larger than the limit of {limit:,}"
        elif not data:
            reason = "empty upload (0 bytes)"
        elif kind is None and modality is None:
            reason = "unrecognised content (not a known media format)"
        if reason is not None:
            self.jobs.record(job_id, 0, FileOutcome(source, "rejected", reason))
            return job_id
        stored = self.engine.media.put_bytes(
            data, ext=kind.extension if kind else None, source=source
        )
        given = None if modality is None else parse_modality(str(modality)).value
        self._send(
            job_id,
            [
                StoredFile(
                    index=0,
                    sha256=stored.sha256,
                    name=label,
                    source=source,
                    modality=given,
                    tags=tuple(clean_tags(list(tags))),
                )
            ],
        )
        return job_id

    def ingest_bytes(
        self,
        name: str,
        data: bytes,
        *,
        modality: Modality | str | None = None,
        tags: Sequence[str] = (),
    ) -> FileOutcome:
        """Sends the upload to a worker and waits for its outcome."""
        job_id = self.submit_bytes(name, data, modality=modality, tags=tags)
        self.jobs.wait(job_id)
        return self.jobs.outcomes(job_id)[0]

    # -- queries --------------------------------------------------------------------------

    def embed(self, modality: Modality, inputs: Sequence[Any]) -> np.ndarray:
        terms = [query_input(modality, item) for item in inputs]
        rows = self.dispatcher.embed(terms, timeout=QUERY_TIMEOUT_S)
        vectors = np.asarray(rows, dtype=np.float32)  # (N, D)
        engine = self.engine
        if vectors.shape != (len(inputs), engine.dim):
            raise ConfigurationError(
                f"the query worker returned vectors of shape {vectors.shape}, expected "
                f"({len(inputs)}, {engine.dim}); do the workers run model {engine.model}?"
            )
        return vectors

    def close(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.close()
            self._dispatcher = None
        self.jobs.close()


def query_input(modality: Modality, item: Any) -> dict[str, Any]:
    """One query input as JSON for the `query` queue: a text, or a file's bytes in base64."""
    if modality is Modality.TEXT:
        if not isinstance(item, str):
            raise InputError(repr(item)[:80], "a text query input must be a string")
        return {"modality": modality.value, "text": item}
    if isinstance(item, str | Path):
        path = Path(item).expanduser()
        if not path.is_file():
            raise InputError(str(item), "no such file")
        size = path.stat().st_size
        if size > MAX_QUERY_INPUT_BYTES:
            raise InputError(
                str(item),
                f"{size:,} bytes is too large for a query (at most {MAX_QUERY_INPUT_BYTES:,})",
            )
        data = path.read_bytes()
    elif isinstance(item, bytes | bytearray | memoryview):
        data = bytes(item)
        if len(data) > MAX_QUERY_INPUT_BYTES:
            raise InputError(f"<{len(data)} bytes>", "too large for a query")
    else:
        raise InputError(
            f"<{type(item).__name__}>",
            "in distributed mode a query input must be a text, a file or bytes",
        )
    return {"modality": modality.value, "data": base64.b64encode(data).decode("ascii")}


def decode_query_input(term: dict[str, Any]) -> tuple[Modality, str | bytes]:
    """The worker side of `query_input`: the modality and the text or the bytes."""
    modality = parse_modality(str(term.get("modality")))
    if "text" in term:
        return modality, str(term["text"])
    data = base64.b64decode(str(term.get("data", "")), validate=True)
    if len(data) > MAX_QUERY_INPUT_BYTES:
        raise InputError(f"<{len(data)} bytes>", "too large for a query")
    return modality, data


def executor_for(engine: ExecutorContext) -> InProcessExecutor | QueueExecutor:
    """The executor `engine`'s settings call for (workers when BINDING_BROKER_URL is set);
    it holds `engine` and works on its parts."""
    if engine.settings.broker_url:
        return QueueExecutor(engine)
    return InProcessExecutor(engine)
