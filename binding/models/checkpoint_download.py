"""Checkpoints, downloading: resumable, verified, exclusive downloads with retries (standard
library only: `urllib`, `fcntl`). See `binding.models.checkpoint` for the cache layout."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import json
import logging
import os
import random
import re
import shutil
import socket
import ssl
import sys
import time
import types
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from binding.errors import CheckpointError
from binding.models.checkpoint_verify import (
    CHUNK_BYTES,
    _hash_file,
    _normalise_sha256,
    _record_sha256,
    _recorded_sha256,
    cached_checkpoint_path,
)

fcntl: types.ModuleType | None
try:
    import fcntl
except ImportError:  # Windows: no flock; downloads are still atomic, only not exclusive
    fcntl = None

log = logging.getLogger(__name__)

TIMEOUT_S = 30.0  # per connection attempt and per socket read
RETRIES = 4  # further attempts after transient failures in a row that made no progress
BACKOFF_S = 1.0  # first retry delay; doubles per failure in a row, with jitter
MAX_RESTARTS = 3  # downloads started over (server ignored Range, file changed) in one call
USER_AGENT = "binding-checkpoint/1 (python-urllib)"
_CONTENT_RANGE_RE = re.compile(r"^bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)$")
_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def _local_path(url: str) -> Path | None:
    """The file a local path or `file://` URL names; None for http(s)."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        return None
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise CheckpointError(f"{url}: file URLs on another host are not supported")
        return Path(urllib.request.url2pathname(parts.path))
    if "://" in url:
        raise CheckpointError(
            f"{url}: unsupported URL scheme {scheme!r}; use http(s)://, file:// or a local path"
        )
    return Path(url).expanduser()


def _check_local(path: Path, size: int | None, sha256: str | None, cache_dir: Path) -> Path:
    """A file the user gave: checked, never modified or deleted."""
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} is not a file")
    actual = path.stat().st_size
    if size is not None and actual != size:
        raise CheckpointError(
            f"checkpoint {path} has {actual:,} bytes but {size:,} were expected: it is "
            "incomplete or a different file (it was left as it is)"
        )
    if sha256 is not None:
        recorded = _recorded_sha256(path, cache_dir)
        digest = recorded or _hash_file(path)
        if digest != sha256:
            raise CheckpointError(
                f"checkpoint {path} has sha256 {digest}, expected {sha256}: it is corrupt, "
                "a different file, or the publisher replaced the file (it was left as it is)"
            )
        if recorded is None:
            _record_sha256(path, digest, cache_dir)
    return path


def _cache_problem(
    target: Path, size: int | None, sha256: str | None, cache_dir: Path
) -> str | None:
    """Why the cached file cannot be used, or None if it can (hashing it once if needed)."""
    try:
        actual = target.stat().st_size
    except FileNotFoundError:
        return "it is not in the cache"
    if size is not None and actual != size:
        return f"the cached file has {actual:,} bytes, expected {size:,}"
    if sha256 is None:
        return None
    recorded = _recorded_sha256(target, cache_dir)
    if recorded is None:  # copied in by hand, or replaced: hash it once
        log.info("verifying %s", target)
        recorded = _hash_file(target)
        _record_sha256(target, recorded, cache_dir)
    if recorded != sha256:
        return f"the cached file has sha256 {recorded}, expected {sha256}"
    return None


def _part_path(target: Path) -> Path:
    return target.with_name(target.name + ".part")


def _offline_message(target: Path, problem: str, model: str) -> str:
    part = _part_path(target)
    partial = ""
    if part.exists():
        partial = f" (a partial download, {part.stat().st_size:,} bytes, is at {part})"
    return (
        f"offline: {target.name} cannot be used: {problem}{partial}. Download it on a connected "
        f"machine with `binding download {model}` and copy it to {target}, or set "
        f"BINDING_CHECKPOINT=/path/to/{target.name} (checkpoint=), or turn offline mode off "
        "(BINDING_OFFLINE=0)."
    )


def resolve_checkpoint(
    url: str,
    *,
    filename: str,
    size: int | None,
    sha256: str | None,
    cache_dir: Path,
    offline: bool,
    progress: bool = True,
    model: str | None = None,
    timeout_s: float = TIMEOUT_S,
    retries: int = RETRIES,
    backoff_s: float = BACKOFF_S,
) -> Path:
    """Local file for `url`: a complete file whose size (and sha256, when known) matched.

    A local path or `file://` URL is used where it is: checked against `size`/`sha256` when
    given, never modified. An http(s) URL is downloaded once into
    `<cache_dir>/checkpoints/<filename>` (resumed if interrupted, verified, renamed into
    place) and found there later. With `offline`, the network is never touched and a missing
    file raises `CheckpointError` saying what to do; `model` (default: the file name's stem)
    names the model in that advice. Transient network errors (reset, timeout, 5xx) are
    retried `retries` times in a row with exponential backoff from `backoff_s`; others fail
    at once with the reason.
    """
    sha256 = _normalise_sha256(sha256)
    cache_dir = Path(cache_dir).expanduser()
    local = _local_path(url)
    if local is not None:
        return _check_local(local, size, sha256, cache_dir)
    target = cached_checkpoint_path(cache_dir, filename)
    problem = _cache_problem(target, size, sha256, cache_dir)
    if problem is None:
        return target
    if offline:
        raise CheckpointError(_offline_message(target, problem, model or Path(filename).stem))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        lock = open(target.with_name(target.name + ".lock"), "a")  # noqa: SIM115
    except OSError as exc:
        raise CheckpointError(
            f"cannot write to the cache {target.parent} ({exc}); set BINDING_CACHE_DIR to a "
            "writable folder"
        ) from exc
    with lock, _exclusive(lock, f"another process is downloading {target.name}; waiting"):
        problem = _cache_problem(target, size, sha256, cache_dir)  # it may have finished
        if problem is None:
            return target
        if target.exists():
            log.warning("%s: %s; downloading it again", target, problem)
        _download(
            url,
            target,
            size=size,
            sha256=sha256,
            cache_dir=cache_dir,
            progress=progress,
            timeout_s=timeout_s,
            retries=retries,
            backoff_s=backoff_s,
        )
    return target


@contextlib.contextmanager
def _exclusive(handle: Any, waiting: str) -> Iterator[None]:
    """Hold an exclusive `flock` on an open file (a no-op where flock does not exist)."""
    if fcntl is None:
        yield
        return
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log.warning("%s", waiting)
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class _Transient(Exception):
    """A failure worth retrying; `progressed` says whether bytes arrived before it."""

    def __init__(self, reason: str, progressed: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.progressed = progressed


class _PrefixHash:
    """sha256 of the bytes of the `.part` file, kept in step with it while it grows."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self.offset = 0

    def catch_up(self, part: Path, length: int) -> None:
        if length != self.offset:  # a new process, or the file started over: rehash it
            self._digest = hashlib.sha256()
            self.offset = 0
            if length:
                with open(part, "rb") as handle:
                    while self.offset < length:
                        chunk = handle.read(min(CHUNK_BYTES, length - self.offset))
                        if not chunk:
                            break
                        self.update(chunk)

    def update(self, chunk: bytes) -> None:
        self._digest.update(chunk)
        self.offset += len(chunk)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


class _Bar:
    """A rich progress bar on stderr, shown only when asked for and stderr is a terminal."""

    def __init__(self, enabled: bool, label: str) -> None:
        self._enabled = enabled and sys.stderr.isatty()
        self._label = label
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> _Bar:
        if self._enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._progress.start()
            self._task = self._progress.add_task(self._label, total=None)
        return self

    def reset(self, total: int | None, completed: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, total=total, completed=completed)

    def advance(self, count: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, count)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def _discard(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _parse_content_range(text: str | None) -> tuple[int | None, int | None, int | None] | None:
    """`bytes 100-199/1000` -> (100, 199, 1000); `bytes */1000` -> (None, None, 1000)."""
    match = _CONTENT_RANGE_RE.match((text or "").strip())
    if match is None:
        return None
    first, last, total = match.groups()
    return (
        int(first) if first is not None else None,
        int(last) if last is not None else None,
        int(total) if total != "*" else None,
    )


def _classify(exc: BaseException, url: str, target: Path, progressed: bool) -> Exception:
    """A network or disk error as `_Transient` (retry) or `CheckpointError` (give up)."""
    if isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS:
        return CheckpointError(f"cannot write the download of {url}: {exc}")
    reason: object = exc
    if isinstance(exc, http.client.InvalidURL):
        return CheckpointError(f"cannot download {url}: {exc}")
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        if not isinstance(reason, OSError):  # e.g. "no host given": retrying cannot help
            return CheckpointError(f"cannot download {url}: {reason}")
    if isinstance(reason, ssl.SSLCertVerificationError):
        return CheckpointError(f"cannot download {url}: {reason}")
    if isinstance(reason, socket.gaierror) and reason.errno != socket.EAI_AGAIN:
        return CheckpointError(
            f"cannot download {url}: the host name does not resolve ({reason}). Without network "
            f"access, copy the checkpoint to {target} and use offline mode (BINDING_OFFLINE=1), "
            "or set BINDING_CHECKPOINT=/path/to/the/file"
        )
    return _Transient(f"{type(reason).__name__}: {reason}", progressed)


def _http_failure(
    exc: urllib.error.HTTPError, url: str, part: Path, meta: Path, have: int
) -> Literal["complete", "restart"]:
    code = exc.code
    if code == 416 and have:  # Range not satisfiable: the partial file is complete, or wrong
        span = _parse_content_range(exc.headers.get("Content-Range"))
        if span is not None and span[2] == have:
            return "complete"
        log.warning("%s: the server refused to resume at byte %d; starting over", url, have)
        _discard(part, meta)
        return "restart"
    if code >= 500 or code in (408, 429):
        raise _Transient(f"the server answered HTTP {code} {exc.reason}", False)
    hints = {
        401: "it needs credentials",
        403: "access is denied (S3 and CloudFront also answer this for a missing file)",
        404: "there is no file at this URL",
        410: "the file was removed",
    }
    hint = hints.get(code, "the request was refused")
    raise CheckpointError(
        f"cannot download {url}: the server answered HTTP {code} {exc.reason} ({hint}). Check "
        "the URL, or set BINDING_CHECKPOINT to a local path or another URL"
    )


def _attempt(
    url: str,
    part: Path,
    meta: Path,
    *,
    size: int | None,
    digest: _PrefixHash,
    timeout_s: float,
    bar: _Bar,
) -> Literal["complete", "restart"]:
    """One HTTP request, appending to `part`. Raises `_Transient` for a retryable failure."""
    target = part.with_name(part.name.removesuffix(".part"))
    have = part.stat().st_size if part.exists() else 0
    recorded = _read_json(meta)
    if have and recorded.get("url", url) != url:  # bytes of another file: never mix them
        _discard(part, meta)
        have = 0
    if size is not None and have > size:
        _discard(part, meta)
        have = 0
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
        if isinstance(recorded.get("validator"), str):
            headers["If-Range"] = recorded["validator"]  # a changed file comes back whole (200)
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        with contextlib.closing(exc):
            return _http_failure(exc, url, part, meta, have)
    except (OSError, http.client.HTTPException) as exc:
        raise _classify(exc, url, target, progressed=False) from exc

    with response:
        length = _int_or_none(response.headers.get("Content-Length"))
        if response.status == 206:
            span = _parse_content_range(response.headers.get("Content-Range"))
            if span is None or span[0] != have:
                log.warning("%s: the server sent another range than asked; starting over", url)
                _discard(part, meta)
                return "restart"
            total = span[2]
        elif response.status == 200:
            if have:
                log.info("%s: the server sent the whole file; starting over", url)
                have = 0
            total = length
        else:
            raise CheckpointError(f"cannot download {url}: unexpected HTTP {response.status}")
        if size is not None and total is not None and total != size:
            _discard(part, meta)
            raise CheckpointError(
                f"{url} is {total:,} bytes but the expected checkpoint is {size:,} bytes: the URL "
                "points to a different file; nothing was kept"
            )
        end = total if total is not None else (have + length if length is not None else size)
        validator = response.headers.get("ETag") or response.headers.get("Last-Modified")
        meta.write_text(json.dumps({"url": url, "validator": validator}), encoding="utf-8")
        digest.catch_up(part, have)
        bar.reset(end, have)
        received = 0
        too_long = False
        try:
            with open(part, "ab" if have else "wb") as out:
                while True:
                    chunk = response.read(CHUNK_BYTES)
                    if not chunk:
                        break
                    if size is not None and have + received + len(chunk) > size:
                        too_long = True
                        break
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.advance(len(chunk))
                out.flush()
                os.fsync(out.fileno())
        except (OSError, http.client.HTTPException) as exc:
            raise _classify(exc, url, target, progressed=received > 0) from exc
    if too_long:
        _discard(part, meta)
        raise CheckpointError(
            f"{url} sent more than the expected {size:,} bytes: it is a different file; "
            "nothing was kept"
        )
    if end is not None and have + received < end:
        raise _Transient(
            f"the connection closed after {have + received:,} of {end:,} bytes",
            received > 0,
        )
    return "complete"


def _check_free_space(folder: Path, size: int | None, part: Path) -> None:
    if size is None:
        return
    need = size - (part.stat().st_size if part.exists() else 0)
    free = shutil.disk_usage(folder).free
    if need > free:
        raise CheckpointError(
            f"not enough disk space to download {part.name.removesuffix('.part')}: "
            f"{need:,} bytes needed, {free:,} free in {folder}. Free some space or set "
            "BINDING_CACHE_DIR to a folder on a larger disk"
        )


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _download(
    url: str,
    target: Path,
    *,
    size: int | None,
    sha256: str | None,
    cache_dir: Path,
    progress: bool,
    timeout_s: float,
    retries: int,
    backoff_s: float,
) -> None:
    """Fetch `url` into `target` through `<target>.part`; the caller holds the lock."""
    part = _part_path(target)
    meta = part.with_name(part.name + ".json")
    _check_free_space(target.parent, size, part)
    log.info("downloading %s to %s", url, target)
    digest = _PrefixHash()
    failures = restarts = 0
    with _Bar(progress, target.name) as bar:
        while True:
            try:
                outcome = _attempt(
                    url, part, meta, size=size, digest=digest, timeout_s=timeout_s, bar=bar
                )
            except _Transient as exc:
                failures = 0 if exc.progressed else failures + 1
                if failures > retries:
                    kept = part.stat().st_size if part.exists() else 0
                    resume = (
                        f" The partial download ({kept:,} bytes, {part}) is kept; the next try "
                        "resumes it."
                        if kept
                        else ""
                    )
                    raise CheckpointError(
                        f"downloading {url} failed after {failures} attempts in a row: "
                        f"{exc.reason}.{resume}"
                    ) from exc
                delay = backoff_s * 2 ** max(failures - 1, 0) * random.uniform(0.5, 1.0)
                log.warning("%s: %s; retrying in %.1f s", url, exc.reason, delay)
                time.sleep(delay)
                continue
            if outcome == "restart":
                restarts += 1
                if restarts > MAX_RESTARTS:
                    raise CheckpointError(f"downloading {url}: the server keeps changing the file")
                continue
            break

    actual = part.stat().st_size
    if size is not None and actual != size:
        _discard(part, meta)
        raise CheckpointError(
            f"downloaded {url} but it has {actual:,} bytes, expected {size:,}; the bad download "
            "was removed"
        )
    digest.catch_up(part, actual)
    found = digest.hexdigest()
    if sha256 is not None and found != sha256:
        _discard(part, meta)
        raise CheckpointError(
            f"downloaded {url} but its sha256 is {found}, expected {sha256}; the bad download "
            "was removed. Either the download was corrupted (try again) or the publisher "
            "replaced the file on the server (then the pinned sha256 is out of date); "
            "set BINDING_CHECKPOINT to a verified copy to go on"
        )
    os.replace(part, target)
    _discard(meta)
    _fsync_dir(target.parent)
    _record_sha256(target, found, cache_dir)
    log.info("downloaded %s (%s bytes, sha256 %s)", target, f"{actual:,}", found)
