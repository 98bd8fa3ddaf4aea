"""Collecting files: sources (files, folders, globs) to a stable list of `FileItem`s."""

from __future__ import annotations

import glob as globlib
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from binding.ingest.outcomes import FileOutcome
from binding.modality import Modality
from binding.points import clean_tags

log = logging.getLogger(__name__)

#: Folder names that say what bytes cannot: a depth or thermal PNG looks like any image.
FOLDER_MODALITIES: dict[str, Modality] = {"depth": Modality.DEPTH, "thermal": Modality.THERMAL}

#: Modalities a folder name may override (those whose files look alike).
_LOOKALIKES = frozenset({Modality.IMAGE, Modality.DEPTH, Modality.THERMAL})

#: Prefix of the `source` of uploaded content (its name is only a display string).
UPLOAD_PREFIX = "upload:"


@dataclass(frozen=True)
class FileItem:
    """One file to ingest: where to read it and how to describe it."""

    path: Path  # where the bytes are
    source: str  # the payload's `source`: an absolute path, or `upload:<name>`
    name: str  # display name
    modality: Modality | None = None  # given by the caller: skips sniffing
    folder_modality: Modality | None = None  # from a `depth/` or `thermal/` folder
    tags: tuple[str, ...] = ()
    sha256: str | None = None  # known hash (a media-store file): checked, not trusted
    caption: str | None = None  # from a sidecar text file (`photo.jpg` + `photo.txt`)


def local_path(path: str | os.PathLike[str]) -> Path:
    """A file's path as ingest stores it in `source`: `~` expanded, absolute from the working
    directory, `.` and `..` removed by name (symbolic links are kept, not followed)."""
    return Path(os.path.normpath(Path(path).expanduser().absolute()))


def stored_source(source: str) -> str:
    """`source` as ingest stores it: a file path through `local_path`, `upload:NAME` and
    `stream:NAME` as given. The one rule for `source=` in queries, `--source` and deletes."""
    if source.startswith((UPLOAD_PREFIX, "stream:")):
        return source
    return str(local_path(source))


def folder_modality(path: Path, root: Path) -> Modality | None:
    """The modality a folder name gives `path`: its nearest `depth/` or `thermal/` ancestor
    from `root` (included) down, case-insensitive; None when there is none."""
    try:
        inner = path.parent.relative_to(root).parts
    except ValueError:
        inner = ()
    for part in reversed((root.name, *inner)):
        found = FOLDER_MODALITIES.get(part.lower())
        if found is not None:
            return found
    return None


def _has_magic(text: str) -> bool:
    return any(c in text for c in "*?[")


def _walk(folder: Path, recursive: bool) -> Iterator[Path]:
    """Files under `folder`, sorted, skipping hidden files and folders (`.DS_Store`, `.git`)."""
    try:
        entries = sorted(folder.iterdir())
    except OSError as error:
        log.warning("cannot list %s: %s", folder, error)
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir() and not entry.is_symlink():
            if recursive:
                yield from _walk(entry, recursive)
        elif entry.is_file():
            yield entry


def collect(
    sources: Sequence[str | Path],
    *,
    modality: Modality | None = None,
    tags: Sequence[str] = (),
    recursive: bool = True,
    skip: Sequence[Path] = (),
    captions: bool = True,
) -> tuple[list[FileItem], list[FileOutcome]]:
    """Files named by `sources` (files, folders, glob patterns), and outcomes for sources
    that name nothing. Each file appears once, at its first mention; files inside a `skip`
    folder (the engine's own media and store folders) are left out. With `captions`, a
    sidecar text file is its media file's caption, not an item (`attach_captions`)."""
    items: list[FileItem] = []
    missing: list[FileOutcome] = []
    seen: set[Path] = set()
    tag_tuple = tuple(clean_tags(list(tags)))
    skipped = [local_path(folder) for folder in skip]

    def add(path: Path, root: Path) -> None:
        resolved = local_path(path)
        if resolved in seen or any(folder in resolved.parents for folder in skipped):
            return
        seen.add(resolved)
        items.append(
            FileItem(
                path=resolved,
                source=str(resolved),
                name=path.name,
                modality=modality,
                folder_modality=folder_modality(resolved, root),
                tags=tag_tuple,
            )
        )

    for raw in sources:
        text = os.fspath(raw)
        path = Path(text).expanduser()
        if path.is_dir():
            root = local_path(path)
            for found in _walk(root, recursive):
                add(found, root)
        elif path.is_file():
            add(path, local_path(path).parent)
        elif _has_magic(text):
            matches = sorted(globlib.glob(os.path.expanduser(text), recursive=recursive))
            literal = Path(os.path.expanduser(text.split("*")[0].split("?")[0].split("[")[0]))
            root = local_path(literal if literal.is_dir() else literal.parent)
            files = [Path(m) for m in matches if Path(m).is_file()]
            for m in matches:
                if Path(m).is_dir():
                    files.extend(_walk(Path(m), recursive))
            if not files:
                missing.append(FileOutcome(text, "rejected", "no file matches this pattern"))
            for found in files:
                add(found, root)
        else:
            missing.append(FileOutcome(text, "rejected", "no such file or folder"))
    if captions:
        items = attach_captions(items)
    return items, missing


#: Sidecar caption files: `photo.jpg` + `photo.txt` (the layout of common image-text sets).
CAPTION_SUFFIXES = frozenset({".txt", ".caption"})
#: Largest sidecar read as a caption; a bigger text is a document of its own.
MAX_CAPTION_BYTES = 64 * 1024


def attach_captions(items: list[FileItem]) -> list[FileItem]:
    """`items` with each sidecar caption (a `.txt` or `.caption` file beside a file of the
    same name, `photo.jpg` + `photo.txt`) moved into its media file's `caption` and dropped
    as an item. A sidecar that is not UTF-8, is empty or over `MAX_CAPTION_BYTES` stays an
    item of its own (ingest then says what is wrong with it, or embeds it as a document)."""
    media: dict[tuple[Path, str], list[int]] = {}
    for position, item in enumerate(items):
        if item.path.suffix.lower() not in CAPTION_SUFFIXES:
            media.setdefault((item.path.parent, item.path.stem), []).append(position)
    captions: dict[int, str] = {}
    dropped: set[int] = set()
    for position, item in enumerate(items):
        if item.path.suffix.lower() not in CAPTION_SUFFIXES:
            continue
        owners = media.get((item.path.parent, item.path.stem))
        if not owners:
            continue
        text = _caption_text(item.path)
        if text is None:
            continue
        dropped.add(position)
        for owner in owners:
            captions[owner] = text
    return [
        replace(item, caption=captions[p]) if p in captions else item
        for p, item in enumerate(items)
        if p not in dropped
    ]


def _caption_text(path: Path) -> str | None:
    try:
        if path.stat().st_size > MAX_CAPTION_BYTES:
            return None
        text = path.read_bytes().decode("utf-8-sig").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None
