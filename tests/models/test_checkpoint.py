"""Checkpoints against a real loopback HTTP server: download, resume, verify, cache, offline,
local overrides, the safetensors twin and reading bad files (R14 of reliability.md)."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO

import pytest
import torch

from binding.errors import CheckpointError
from binding.models import checkpoint as checkpoint_module
from binding.models.checkpoint import (
    cached_checkpoint_path,
    checkpoint_status,
    ensure_safetensors,
    read_state_dict,
    resolve_checkpoint,
    verify_checkpoint,
)

FILENAME = "imagebind_tiny.pth"
FAST = {"backoff_s": 0.01, "timeout_s": 5.0, "progress": False}  # retries without waiting


# --- a loopback HTTP server with faults -------------------------------------------------------


@dataclass
class Plan:
    """What the server does; per-request lists are consumed one request at a time."""

    body: bytes
    etag: str = '"v1"'
    statuses: list[int] = field(default_factory=list)  # answer these codes first
    always_status: int | None = None  # answer every request with this code
    drop_after: list[int] = field(default_factory=list)  # send this many bytes, then close
    truncate_at: int | None = None  # the body ends here, though Content-Length says more
    ignore_range: bool = False
    hold: threading.Event | None = None  # the first response stops after 100 bytes until set


@dataclass
class Seen:
    path: str
    range: str | None
    if_range: str | None


class Server:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def url(self, name: str = FILENAME) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.requests.append(seen)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        server: Server = self.server.owner  # type: ignore[attr-defined]
        plan = server.plan
        server.record(Seen(self.path, self.headers.get("Range"), self.headers.get("If-Range")))
        code = plan.statuses.pop(0) if plan.statuses else plan.always_status
        if code is not None:
            self.send_error(code)
            return
        body = plan.body
        start, status = 0, 200
        wanted = None if plan.ignore_range else self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if wanted and (if_range is None or if_range == plan.etag):
            start = int(re.fullmatch(r"bytes=(\d+)-", wanted).group(1))  # type: ignore[union-attr]
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        payload = body[start:]
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("ETag", plan.etag)
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        limit = len(payload)
        if plan.drop_after:
            limit = min(limit, plan.drop_after.pop(0))
        if plan.truncate_at is not None:
            limit = min(limit, max(0, plan.truncate_at - start))
        sent = 0
        if plan.hold is not None:
            hold, plan.hold = plan.hold, None
            sent = min(100, limit)
            self.wfile.write(payload[:sent])
            self.wfile.flush()
            hold.wait(timeout=30)
        self.wfile.write(payload[sent:limit])
        if limit < len(payload):  # hang up mid-body
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)


@pytest.fixture(scope="module")
def state() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {
        "trunks.vision.weight": torch.randn(16, 8, generator=generator),
        "trunks.vision.bias": torch.randn(16, generator=generator),
        "trunks.text.weight": torch.randn(12, 8, generator=generator),
        "heads.text.proj": torch.randn(4, 12, generator=generator).to(torch.bfloat16),
        "postprocessors.steps": torch.arange(5),
    }


@pytest.fixture(scope="module")
def checkpoint_bytes(
    state: dict[str, torch.Tensor], tmp_path_factory: pytest.TempPathFactory
) -> bytes:
    path = tmp_path_factory.mktemp("source") / FILENAME
    torch.save(state, path)
    return path.read_bytes()


@pytest.fixture
def server(checkpoint_bytes: bytes) -> Iterator[Server]:
    running = Server(Plan(body=checkpoint_bytes))
    running.thread.start()
    yield running
    running.httpd.shutdown()
    running.httpd.server_close()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch(server: Server, cache: Path, **overrides: object) -> Path:
    body = server.plan.body
    arguments: dict[str, object] = {
        "filename": FILENAME,
        "size": len(body),
        "sha256": sha(body),
        "cache_dir": cache,
        "offline": False,
        **FAST,
    }
    arguments.update(overrides)
    return resolve_checkpoint(server.url(), **arguments)  # type: ignore[arg-type]


# --- downloading ------------------------------------------------------------------------------


def test_download_verifies_and_second_call_is_a_cache_hit(server: Server, tmp_path: Path) -> None:
    path = fetch(server, tmp_path)
    assert path == tmp_path / "checkpoints" / FILENAME
    assert path.read_bytes() == server.plan.body
    sidecar = path.with_name(FILENAME + ".sha256")
    assert sidecar.read_text() == f"{sha(server.plan.body)}  {FILENAME}\n"
    assert not path.with_name(FILENAME + ".part").exists()
    assert len(server.requests) == 1 and server.requests[0].range is None

    assert fetch(server, tmp_path) == path
    assert len(server.requests) == 1  # no request for a cached file


def test_unknown_hash_is_recorded_after_download(server: Server, tmp_path: Path) -> None:
    before = checkpoint_status(server.url(), FILENAME, None, None, tmp_path)
    assert not before.cached and before.problem == "not downloaded yet"
    path = fetch(server, tmp_path, sha256=None, size=None)
    status = checkpoint_status(server.url(), FILENAME, None, None, tmp_path)
    assert status.cached and status.verified and status.sha256 == sha(server.plan.body)
    assert status.path == path and status.safetensors is None and status.partial_bytes == 0


def test_interrupted_download_resumes_with_range(server: Server, tmp_path: Path) -> None:
    server.plan.drop_after = [700]
    path = fetch(server, tmp_path)
    assert path.read_bytes() == server.plan.body
    assert [r.range for r in server.requests] == [None, "bytes=700-"]
    assert server.requests[1].if_range == server.plan.etag


def test_download_left_unfinished_is_resumed_by_the_next_call(
    server: Server, tmp_path: Path
) -> None:
    server.plan.drop_after = [700, 0]  # progress, then an attempt without any: give up
    with pytest.raises(CheckpointError, match=r"partial download \(700 bytes.*resumes it"):
        fetch(server, tmp_path, retries=0)
    target = cached_checkpoint_path(tmp_path, FILENAME)
    assert not target.exists()
    assert target.with_name(FILENAME + ".part").stat().st_size == 700
    assert checkpoint_status(server.url(), FILENAME, None, None, tmp_path).partial_bytes == 700

    path = fetch(server, tmp_path)
    assert path.read_bytes() == server.plan.body
    assert [r.range for r in server.requests] == [None, "bytes=700-", "bytes=700-"]


def test_server_ignoring_range_starts_over(server: Server, tmp_path: Path) -> None:
    server.plan.drop_after = [700]
    server.plan.ignore_range = True
    path = fetch(server, tmp_path)
    assert path.read_bytes() == server.plan.body
    assert [r.range for r in server.requests] == [None, "bytes=700-"]  # asked, got 200


def test_file_changed_on_server_between_attempts_starts_over(
    server: Server, tmp_path: Path
) -> None:
    server.plan.drop_after = [700, 0]
    with pytest.raises(CheckpointError):
        fetch(server, tmp_path, retries=0, sha256=None, size=None)
    server.plan.body = bytes(reversed(server.plan.body))
    server.plan.etag = '"v2"'
    path = fetch(server, tmp_path, sha256=None, size=None)
    assert path.read_bytes() == server.plan.body  # not old prefix + new tail
    assert server.requests[-1].if_range == '"v1"'


def test_complete_partial_file_gets_416_and_is_finished(server: Server, tmp_path: Path) -> None:
    part = cached_checkpoint_path(tmp_path, FILENAME).with_name(FILENAME + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(server.plan.body)
    path = fetch(server, tmp_path)
    assert path.read_bytes() == server.plan.body
    assert [r.range for r in server.requests] == [f"bytes={len(server.plan.body)}-"]


def test_partial_file_longer_than_remote_starts_over(server: Server, tmp_path: Path) -> None:
    part = cached_checkpoint_path(tmp_path, FILENAME).with_name(FILENAME + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(server.plan.body + b"junk" * 10)
    path = fetch(server, tmp_path, size=None)  # with the size known, no request is wasted
    assert path.read_bytes() == server.plan.body
    assert [r.range is None for r in server.requests] == [False, True]


def test_truncated_download_is_refused_and_never_the_final_file(
    server: Server, tmp_path: Path
) -> None:
    half = len(server.plan.body) // 2
    server.plan.truncate_at = half
    with pytest.raises(CheckpointError, match=rf"closed after {half:,} of"):
        fetch(server, tmp_path, retries=2)
    target = cached_checkpoint_path(tmp_path, FILENAME)
    assert not target.exists()
    assert target.with_name(FILENAME + ".part").stat().st_size == half
    # one request that made progress, then 3 in a row (1 + 2 retries) that did not
    assert [r.range for r in server.requests] == [None] + [f"bytes={half}-"] * 3


def test_wrong_size_is_refused(server: Server, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="different file; nothing was kept"):
        fetch(server, tmp_path, size=len(server.plan.body) + 10, sha256=None)
    assert list((tmp_path / "checkpoints").glob(FILENAME + "*")) == [
        tmp_path / "checkpoints" / (FILENAME + ".lock")
    ]
    assert len(server.requests) == 1


def test_wrong_bytes_are_refused_by_sha256_and_removed(server: Server, tmp_path: Path) -> None:
    good = server.plan.body
    server.plan.body = good[:100] + bytes(b ^ 0xFF for b in good[100:110]) + good[110:]
    with pytest.raises(
        CheckpointError, match=f"sha256 is {sha(server.plan.body)}, expected"
    ) as err:
        fetch(server, tmp_path, size=len(good), sha256=sha(good))
    # no published hash to trust: the error names both causes, a bad download and a new file
    assert "corrupted" in str(err.value) and "publisher replaced the file" in str(err.value)
    target = cached_checkpoint_path(tmp_path, FILENAME)
    assert not target.exists() and not target.with_name(FILENAME + ".part").exists()


def test_404_is_not_retried_and_says_so(server: Server, tmp_path: Path) -> None:
    server.plan.always_status = 404
    with pytest.raises(CheckpointError, match="HTTP 404.*no file at this URL.*BINDING_CHECKPOINT"):
        fetch(server, tmp_path, backoff_s=10.0)  # a retry would take seconds
    assert len(server.requests) == 1


def test_500_is_retried_then_succeeds(server: Server, tmp_path: Path) -> None:
    server.plan.statuses = [500, 503]
    path = fetch(server, tmp_path)
    assert path.read_bytes() == server.plan.body
    assert len(server.requests) == 3


def test_500_forever_gives_up_after_the_retries(server: Server, tmp_path: Path) -> None:
    server.plan.always_status = 500
    with pytest.raises(CheckpointError, match="failed after 3 attempts in a row.*HTTP 500"):
        fetch(server, tmp_path, retries=2)
    assert len(server.requests) == 3


def test_no_disk_space_fails_before_any_request(server: Server, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not enough disk space.*BINDING_CACHE_DIR"):
        fetch(server, tmp_path, size=10**18, sha256=None)
    assert server.requests == []


# The child loads checkpoint.py by its path: downloading needs no torch, and skipping the
# package's `__init__` (which builds networks) starts each process in a tenth of a second.
CHILD = """
import importlib.util, logging, sys
from pathlib import Path
source, url, filename, size, sha256, cache = sys.argv[1:]
spec = importlib.util.spec_from_file_location("checkpoint_under_test", source)
checkpoint = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(checkpoint)
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
print(checkpoint.resolve_checkpoint(url, filename=filename, size=int(size), sha256=sha256,
                                    cache_dir=Path(cache), offline=False, progress=False))
"""


@pytest.mark.timeout(60)
def test_two_processes_downloading_at_once_write_the_file_once(
    server: Server, tmp_path: Path
) -> None:
    body = server.plan.body
    release = server.plan.hold = threading.Event()  # the first response stalls mid-body
    argv = [sys.executable, "-c", CHILD, checkpoint_module.__file__, server.url(), FILENAME]
    argv += [str(len(body)), sha(body), str(tmp_path)]
    waited = threading.Event()
    logs: list[str] = []

    def watch(stream: IO[str]) -> None:
        for line in stream:
            logs.append(line)
            if "another process is downloading" in line:
                waited.set()

    started: list[subprocess.Popen[str]] = []
    try:
        for _ in range(2):
            process = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            started.append(process)
            assert process.stderr is not None
            threading.Thread(target=watch, args=(process.stderr,), daemon=True).start()
        # Whichever asks first holds the lock mid-download; the other must wait for it.
        deadline = time.monotonic() + 30
        while not waited.wait(0.05) and time.monotonic() < deadline:
            if all(process.poll() is not None for process in started):
                break
        assert waited.is_set(), "no process waited for the other: " + "".join(logs)
        release.set()
        outputs = []
        for process in started:
            assert process.wait(timeout=30) == 0, "".join(logs)
            assert process.stdout is not None
            outputs.append(process.stdout.read().strip())
    finally:
        release.set()
        for process in started:
            if process.poll() is None:
                process.kill()
                process.wait()
    target = cached_checkpoint_path(tmp_path, FILENAME)
    assert outputs == [str(target), str(target)]
    assert target.read_bytes() == body
    assert len(server.requests) == 1


def test_cached_file_replaced_on_disk_is_detected_and_downloaded_again(
    server: Server, tmp_path: Path
) -> None:
    path = fetch(server, tmp_path)
    damaged = bytearray(path.read_bytes())
    damaged[200] ^= 0xFF
    path.write_bytes(bytes(damaged))  # same size, new mtime: the recorded hash no longer holds
    assert fetch(server, tmp_path).read_bytes() == server.plan.body
    assert len(server.requests) == 2


# --- offline and local files ------------------------------------------------------------------


def test_offline_uses_the_cache_without_any_request(server: Server, tmp_path: Path) -> None:
    path = fetch(server, tmp_path)
    assert fetch(server, tmp_path, offline=True) == path
    assert len(server.requests) == 1


def test_offline_without_cache_explains_what_to_do(server: Server, tmp_path: Path) -> None:
    target = cached_checkpoint_path(tmp_path, FILENAME)
    with pytest.raises(CheckpointError) as caught:
        fetch(server, tmp_path, offline=True)
    message = str(caught.value)
    assert message.startswith(f"offline: {FILENAME} cannot be used: it is not in the cache")
    assert "`binding download imagebind_tiny`" in message
    assert f"copy it to {target}" in message
    assert f"BINDING_CHECKPOINT=/path/to/{FILENAME}" in message
    assert server.requests == []


def test_offline_with_a_bad_cached_file_says_why_and_keeps_it(
    server: Server, tmp_path: Path
) -> None:
    target = cached_checkpoint_path(tmp_path, FILENAME)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="offline: .* has 16 bytes, expected"):
        fetch(server, tmp_path, offline=True)
    assert target.read_bytes() == b"not a checkpoint"
    assert server.requests == []


def test_local_path_and_file_url_are_used_where_they_are(
    checkpoint_bytes: bytes, tmp_path: Path
) -> None:
    local = tmp_path / "mine" / "weights.pth"
    local.parent.mkdir()
    local.write_bytes(checkpoint_bytes)
    common = {
        "filename": FILENAME,
        "size": len(checkpoint_bytes),
        "sha256": sha(checkpoint_bytes),
        "cache_dir": tmp_path / "cache",
        "offline": True,
    }
    assert resolve_checkpoint(str(local), **common) == local  # type: ignore[arg-type]
    assert resolve_checkpoint(local.as_uri(), **common) == local  # type: ignore[arg-type]
    assert not (tmp_path / "cache" / "checkpoints" / FILENAME).exists()
    with pytest.raises(CheckpointError, match=f"checkpoint {tmp_path / 'nope.pth'} does not"):
        resolve_checkpoint(str(tmp_path / "nope.pth"), **common)  # type: ignore[arg-type]
    with pytest.raises(CheckpointError, match="unsupported URL scheme 'ftp'"):
        resolve_checkpoint("ftp://example.org/x.pth", **common)  # type: ignore[arg-type]


def test_local_file_with_wrong_size_or_hash_is_refused_and_left_alone(
    checkpoint_bytes: bytes, tmp_path: Path
) -> None:
    local = tmp_path / "weights.pth"
    local.write_bytes(checkpoint_bytes)
    common = {"filename": FILENAME, "cache_dir": tmp_path / "cache", "offline": False}
    with pytest.raises(CheckpointError, match="has .* bytes but .* were expected.*left as it is"):
        resolve_checkpoint(str(local), size=1, sha256=None, **common)  # type: ignore[arg-type]
    with pytest.raises(CheckpointError, match=f"sha256 {sha(checkpoint_bytes)}, expected 0000"):
        resolve_checkpoint(str(local), size=None, sha256="0" * 64, **common)  # type: ignore[arg-type]
    assert local.read_bytes() == checkpoint_bytes


def test_verify_checkpoint_catches_a_flipped_byte(server: Server, tmp_path: Path) -> None:
    path = fetch(server, tmp_path, sha256=None)
    assert verify_checkpoint(path) == sha(server.plan.body)
    damaged = bytearray(path.read_bytes())
    damaged[-5] ^= 0x01
    path.write_bytes(bytes(damaged))
    status = checkpoint_status(server.url(), FILENAME, len(damaged), None, tmp_path)
    assert status.exists and not status.verified  # the recorded hash is for the old file
    with pytest.raises(CheckpointError, match="the file changed on disk"):
        verify_checkpoint(path)


# --- the safetensors twin and reading ---------------------------------------------------------


def assert_same(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    assert sorted(got) == sorted(want)
    for key, tensor in want.items():
        assert got[key].dtype == tensor.dtype and torch.equal(got[key], tensor), key


def test_ensure_safetensors_converts_once_and_reads_back(
    server: Server, tmp_path: Path, state: dict[str, torch.Tensor]
) -> None:
    source = fetch(server, tmp_path)
    twin = ensure_safetensors(source, cache_dir=tmp_path)
    assert twin == source.with_suffix(".safetensors")
    written = twin.stat().st_mtime_ns
    assert ensure_safetensors(source, cache_dir=tmp_path) == twin
    assert twin.stat().st_mtime_ns == written  # not converted again
    assert ensure_safetensors(twin) == twin

    assert_same(read_state_dict(twin), state)
    assert_same(read_state_dict(source), state)
    text = read_state_dict(twin, prefixes=["trunks.text.", "heads.text."])
    assert_same(text, {k: v for k, v in state.items() if ".text." in k})
    status = checkpoint_status(server.url(), FILENAME, None, None, tmp_path)
    assert status.safetensors == twin
    assert status.as_dict()["safetensors"] == str(twin) and status.as_dict()["cached"] is True


def test_stale_twin_is_converted_again(server: Server, tmp_path: Path) -> None:
    source = fetch(server, tmp_path)
    twin = ensure_safetensors(source, cache_dir=tmp_path)
    written = twin.stat().st_mtime_ns
    later = source.stat().st_mtime_ns + 5_000_000_000
    os.utime(source, ns=(later, later))  # the source changed after the conversion
    assert ensure_safetensors(source, cache_dir=tmp_path) == twin
    assert twin.stat().st_mtime_ns != written


def test_someone_elses_safetensors_is_never_overwritten(
    checkpoint_bytes: bytes, tmp_path: Path, state: dict[str, torch.Tensor]
) -> None:
    source = tmp_path / "mine" / "weights.pth"
    source.parent.mkdir()
    source.write_bytes(checkpoint_bytes)
    theirs = source.with_suffix(".safetensors")
    theirs.write_bytes(b"their own file")
    twin = ensure_safetensors(source, cache_dir=tmp_path / "cache")
    assert twin.parent == tmp_path / "cache" / "checkpoints" / "converted"
    assert theirs.read_bytes() == b"their own file"
    assert_same(read_state_dict(twin), state)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to a read-only folder")
def test_read_only_source_folder_converts_into_the_cache(
    checkpoint_bytes: bytes, tmp_path: Path
) -> None:
    folder = tmp_path / "readonly"
    folder.mkdir()
    source = folder / "weights.pth"
    source.write_bytes(checkpoint_bytes)
    folder.chmod(0o555)
    try:
        twin = ensure_safetensors(source, cache_dir=tmp_path / "cache")
    finally:
        folder.chmod(0o755)
    assert twin.parent == tmp_path / "cache" / "checkpoints" / "converted"


def test_corrupt_pth_and_truncated_safetensors_name_the_file(
    checkpoint_bytes: bytes, tmp_path: Path
) -> None:
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(checkpoint_bytes[: len(checkpoint_bytes) // 2])
    with pytest.raises(CheckpointError, match=f"checkpoint {corrupt} cannot be read.*corrupt"):
        read_state_dict(corrupt)
    with pytest.raises(CheckpointError, match=f"checkpoint {corrupt} cannot be read"):
        ensure_safetensors(corrupt, cache_dir=tmp_path)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00garbage" * 50)
    with pytest.raises(CheckpointError, match=f"checkpoint {garbage} cannot be read"):
        read_state_dict(garbage)
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match=f"checkpoint {empty} is empty"):
        read_state_dict(empty)

    good = tmp_path / "good.pth"
    good.write_bytes(checkpoint_bytes)
    twin = ensure_safetensors(good, cache_dir=tmp_path)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(twin.read_bytes()[:-40])
    with pytest.raises(CheckpointError, match=f"checkpoint {truncated} cannot be read"):
        read_state_dict(truncated)


def test_wrapped_state_dict_is_unwrapped(tmp_path: Path, state: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "wrapped.pth"
    torch.save({"model": state, "epoch": 3}, path)
    assert_same(read_state_dict(path), state)


# --- the `binding download` command --------------------------------------------------------


def test_download_command_fetches_verifies_and_converts(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`binding download` for a registry entry whose URL is the loopback server."""
    import dataclasses

    from typer.testing import CliRunner

    import binding.models
    from binding.cli import app

    body = server.plan.body
    spec = dataclasses.replace(
        binding.models.get_spec("imagebind_huge"),
        url=server.url(),
        filename=FILENAME,
        size_bytes=len(body),
        sha256=sha(body),
    )
    monkeypatch.setattr(binding.models, "get_spec", lambda name: spec)
    monkeypatch.setenv("BINDING_CACHE_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["download", "imagebind_huge"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "checkpoints" / FILENAME).read_bytes() == body
    assert list(tmp_path.rglob("*.safetensors")), result.output  # the memory-mapped twin
    # offline, the cached file is enough: no second request
    monkeypatch.setenv("BINDING_OFFLINE", "1")
    again = CliRunner().invoke(app, ["download", "imagebind_huge", "--no-convert"])
    assert again.exit_code == 0, again.output
    assert len(server.requests) == 1
