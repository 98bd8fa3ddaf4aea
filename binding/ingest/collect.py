"""Collecting files: sources (files, folders, globs) to a stable list of `FileItem`s.

Symbolic links met inside a folder (or a glob) are checked, never silently skipped:
- a link to a file inside the folder being ingested is taken like the file;
- a link to a file outside it is rejected ("leads outside the ingested folder; not
  followed") unless `follow_symlinks` (`BINDING_FOLLOW_SYMLINKS`) is set;
- a link to a folder is rejected ("not followed") unless `follow_symlinks` is set; then it
  is walked, each real folder once, so a loop ends with a rejected line, not forever;
- a broken link and a link loop are rejected with that reason.
A file or folder named on the command line is taken as given, link or not: the user chose it.
"""

from __future__ import annotations

import glob as globlib
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from binding.ingest.outcomes import FileOutcome
from binding.modality import Modality, folder_modalities
from binding.points import clean_tags

log = logging.getLogger(__name__)


class _FolderView(Mapping[str, Modality]):
    """Folder name -> modality, read from the registered specs on every lookup."""

    def __getitem__(self, key: str) -> Modality:
        return folder_modalities()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(folder_modalities())

    def __len__(self) -> int:
        return len(folder_modalities())


#: Folder names that say what bytes cannot: a depth or thermal PNG looks like any image, an
#: array of a trained modality like any array. Each spec's `folder_names` (a live view).
FOLDER_MODALITIES: Mapping[str, Modality] = _FolderView()

#: Prefix of the `source` of uploaded content (its name is only a display string).
UPLOAD_PREFIX = "upload:"


@dataclass(frozen=True)
class FileItem:
    """One file to ingest: where to read it and how to describe it."""

    path: Path  # where the bytes are
    source: str  # the payload's `source`: an absolute path, or `upload:<name>`
    name: str  # display name
    modality: Modality | None = None  # given by the caller: skips sniffing
    folder_modality: Modality | None = None  # from a folder named in a spec (`depth/`)
    tags: tuple[str, ...] = ()
    sha256: str | None = None  # known hash (a media-store file): checked, not trusted


def folder_modality(path: Path, root: Path) -> Modality | None:
    """The modality a folder name gives `path`: its nearest ancestor named in a spec's
    `folder_names` (`depth/`, `thermal/`...) from `root` (included) down, case-insensitive;
    None when there is none."""
    try:
        inner = path.parent.relative_to(root).parts
    except ValueError:
        inner = ()
    names = folder_modalities()
    for part in reversed((root.name, *inner)):
        found = names.get(part.lower())
        if found is not None:
            return found
    return None


def _has_magic(text: str) -> bool:
    return any(c in text for c in "*?[")


#: What `_walk` yields: a file to take, or a path and why it is not taken.
_Found = tuple[Path, str | None]

_NOT_FOLLOWED = "set BINDING_FOLLOW_SYMLINKS=true to follow symbolic links"


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _link_target(entry: Path) -> tuple[Path | None, str | None]:
    """A symbolic link's real target, or why there is none (broken, a loop)."""
    try:
        return entry.resolve(strict=True), None
    except FileNotFoundError:
        return None, "a broken symbolic link (its target does not exist)"
    except (RuntimeError, OSError) as error:  # ELOOP: RuntimeError before Python 3.13
        if "loop" in str(error).lower() or getattr(error, "errno", None) == 40:
            return None, "a symbolic link loop"
        return None, f"cannot follow this symbolic link: {error}"


def _walk(
    folder: Path,
    recursive: bool,
    *,
    root: Path | None = None,
    follow: bool = False,
    visited: set[Path] | None = None,
) -> Iterator[_Found]:
    """Files under `folder`, sorted, skipping hidden files and folders (`.DS_Store`, `.git`);
    symbolic links as the module docstring says. `root` is the real path of the folder the
    walk started from; `visited` the real folders walked so far (loops end there)."""
    root = root if root is not None else folder.resolve()
    visited = visited if visited is not None else {folder.resolve()}
    try:
        entries = sorted(folder.iterdir())
    except OSError as error:
        log.warning("cannot list %s: %s", folder, error)
        yield folder, f"cannot list this folder: {error.strerror or error}"
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_symlink():
            yield from _link(entry, recursive, root=root, follow=follow, visited=visited)
        elif entry.is_dir():
            real = entry.resolve()
            if recursive and real not in visited:  # not walked already through a link
                visited.add(real)
                yield from _walk(entry, recursive, root=root, follow=follow, visited=visited)
        elif entry.is_file():
            yield entry, None


def _link(
    entry: Path, recursive: bool, *, root: Path, follow: bool, visited: set[Path]
) -> Iterator[_Found]:
    """A symbolic link met in a walk: its file, its folder's files, or why not."""
    target, problem = _link_target(entry)
    if target is None:
        yield entry, problem
    elif target.is_dir():
        if not follow:
            yield entry, f"a symbolic link to a folder; not followed ({_NOT_FOLLOWED})"
        elif target in visited:
            yield entry, "a symbolic link to a folder already walked (a loop); skipped"
        elif recursive:
            visited.add(target)
            yield from _walk(entry, recursive, root=root, follow=follow, visited=visited)
    elif not target.is_file():
        yield entry, "a symbolic link to something that is not a regular file"
    elif follow or _within(target, root):
        yield entry, None
    else:
        yield (
            entry,
            (
                f"a symbolic link that leads outside the ingested folder; not followed ({_NOT_FOLLOWED})"
            ),
        )


def collect(
    sources: Sequence[str | Path],
    *,
    modality: Modality | None = None,
    tags: Sequence[str] = (),
    recursive: bool = True,
    skip: Sequence[Path] = (),
    follow_symlinks: bool = False,
) -> tuple[list[FileItem], list[FileOutcome]]:
    """Files named by `sources` (files, folders, glob patterns), and outcomes for sources
    that name nothing and for symbolic links not taken (see the module docstring). Each file
    appears once, at its first mention; files inside a `skip` folder (the engine's own media
    and store folders) are left out."""
    items: list[FileItem] = []
    missing: list[FileOutcome] = []
    seen: set[Path] = set()
    tag_tuple = tuple(clean_tags(list(tags)))
    skipped = [Path(folder).expanduser().absolute() for folder in skip]

    def take(found: Iterable[_Found], root: Path) -> None:
        for path, problem in found:
            if problem is None:
                add(path, root)
            elif path.absolute() not in seen:
                seen.add(path.absolute())
                missing.append(FileOutcome(str(path.absolute()), "rejected", problem))

    def add(path: Path, root: Path) -> None:
        resolved = path.absolute()
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
            root = path.absolute()
            take(_walk(root, recursive, follow=follow_symlinks), root)
        elif path.is_file():
            add(path, path.absolute().parent)
        elif _has_magic(text):
            matches = sorted(globlib.glob(os.path.expanduser(text), recursive=recursive))
            literal = Path(os.path.expanduser(text.split("*")[0].split("?")[0].split("[")[0]))
            root = (literal if literal.is_dir() else literal.parent).absolute()
            real_root = root.resolve()
            found: list[_Found] = []
            for m in map(Path, matches):
                if m.is_symlink():
                    found.extend(
                        _link(m, recursive, root=real_root, follow=follow_symlinks, visited=set())
                    )
                elif m.is_dir():
                    found.extend(_walk(m, recursive, root=real_root, follow=follow_symlinks))
                elif m.is_file():
                    outside = not follow_symlinks and not _within(m.resolve(), real_root)
                    reason = "reached through a symbolic link that leads outside the folder"
                    found.append(
                        (m, f"{reason}; not followed ({_NOT_FOLLOWED})" if outside else None)
                    )
            if not found:
                missing.append(FileOutcome(text, "rejected", "no file matches this pattern"))
            take(found, root)
        else:
            missing.append(FileOutcome(text, "rejected", "no such file or folder"))
    return items, missing
