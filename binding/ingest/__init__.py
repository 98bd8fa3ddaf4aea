"""Files in, points out: see `binding.ingest.pipeline` for how a run goes.

- `collect`: sources (files, folders, globs) to `FileItem`s;
- `pipeline`: sniff, deduplicate, decode, batch, embed, store (`ingest_paths`,
  `ingest_items`, `ingest_bytes`, `inspect_file`);
- `outcomes`: `FileOutcome` and `IngestReport`, which jobs and reports share.
"""

from __future__ import annotations

from binding.ingest.collect import (
    FOLDER_MODALITIES,
    UPLOAD_PREFIX,
    FileItem,
    collect,
    folder_modality,
)
from binding.ingest.expand import MIN_TAIL_SECONDS, segment_windows
from binding.ingest.outcomes import FAILED, FileOutcome, IngestReport, Progress, Status
from binding.ingest.pipeline import (
    CHUNK_FILES,
    FilePlan,
    IngestContext,
    embed_stored_file,
    expand_plan,
    ingest_bytes,
    ingest_items,
    ingest_paths,
    inspect_file,
)

__all__ = [
    "CHUNK_FILES",
    "FAILED",
    "FOLDER_MODALITIES",
    "MIN_TAIL_SECONDS",
    "UPLOAD_PREFIX",
    "FileItem",
    "FileOutcome",
    "FilePlan",
    "IngestContext",
    "IngestReport",
    "Progress",
    "Status",
    "collect",
    "embed_stored_file",
    "expand_plan",
    "folder_modality",
    "ingest_bytes",
    "ingest_items",
    "ingest_paths",
    "inspect_file",
    "segment_windows",
]
