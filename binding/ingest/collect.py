"""Collecting files: sources (files, folders, globs) to a stable list of `FileItem`s."""

from __future__ import annotations

import glob as globlib
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
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
) -> tuple[list[FileItem], list[FileOutcome]]:
    """Files named by `sources` (files, folders, glob patterns), and outcomes for sources
    that name nothing. Each file appears once, at its first mention; files inside a `skip`
    folder (the engine's own media and store folders) are left out."""
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
    return items, missing
