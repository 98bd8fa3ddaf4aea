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
from dataclasses import dataclass, replace
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
    captions: bool = True,
) -> tuple[list[FileItem], list[FileOutcome]]:
    """Files named by `sources` (files, folders, glob patterns), and outcomes for sources
    that name nothing and for symbolic links not taken (see the module docstring). Each file
    appears once, at its first mention; files inside a `skip` folder (the engine's own media
    and store folders) are left out. With `captions`, a sidecar text file is its media
    file's caption, not an item (`attach_captions`)."""
    items: list[FileItem] = []
    missing: list[FileOutcome] = []
    seen: set[Path] = set()
    tag_tuple = tuple(clean_tags(list(tags)))
    skipped = [local_path(folder) for folder in skip]

    def take(found: Iterable[_Found], root: Path) -> None:
        for path, problem in found:
            if problem is None:
                add(path, root)
            elif path.absolute() not in seen:
                seen.add(path.absolute())
                missing.append(FileOutcome(str(path.absolute()), "rejected", problem))

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
            take(_walk(root, recursive, follow=follow_symlinks), root)
        elif path.is_file():
            add(path, local_path(path).parent)
        elif _has_magic(text):
            matches = sorted(globlib.glob(os.path.expanduser(text), recursive=recursive))
            literal = Path(os.path.expanduser(text.split("*")[0].split("?")[0].split("[")[0]))
            root = local_path(literal if literal.is_dir() else literal.parent)
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
