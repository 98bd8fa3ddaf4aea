"""What ingest reports: one outcome per file, and the report of a run (jobs share them)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from uuid import UUID

Status = Literal["embedded", "duplicate", "rejected", "failed"]

#: The status of a file that met an infrastructure failure (the store or the broker
#: unavailable for longer than the retry window): not bad input, so not "rejected";
#: `binding jobs retry JOB` sends it again.
FAILED: Status = "failed"


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one file: embedded, duplicate, rejected with a reason, or failed
    (retryable: an infrastructure failure, see `FAILED`)."""

    source: str
    status: Status
    reason: str | None = None
    modality: str | None = None
    sha256: str | None = None
    points: int = 0
    ids: list[UUID] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["ids"] = [str(i) for i in self.ids]
        return row


@dataclass(frozen=True)
class IngestReport:
    """Every file's outcome, in the order the files were found."""

    files: list[FileOutcome]

    @property
    def embedded(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "embedded"]

    @property
    def duplicates(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "duplicate"]

    @property
    def rejected(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "rejected"]

    @property
    def failed(self) -> list[FileOutcome]:
        """Files that met an infrastructure failure: retryable (`binding jobs retry`)."""
        return [f for f in self.files if f.status == FAILED]

    @property
    def counts(self) -> dict[str, int]:
        """Files per outcome, and the points written."""
        return {
            "files": len(self.files),
            "embedded": len(self.embedded),
            "duplicate": len(self.duplicates),
            "rejected": len(self.rejected),
            "failed": len(self.failed),
            "points": sum(f.points for f in self.embedded),
        }

    def points_by_modality(self) -> dict[str, int]:
        """Points written per modality (segment points included)."""
        out: dict[str, int] = {}
        for f in self.embedded:
            if f.modality:
                out[f.modality] = out.get(f.modality, 0) + f.points
        return dict(sorted(out.items()))

    def to_json(self, indent: int | None = 2) -> str:
        body = {
            "counts": self.counts,
            "points_by_modality": self.points_by_modality(),
            "files": [f.to_dict() for f in self.files],
        }
        return json.dumps(body, indent=indent, ensure_ascii=False)


Progress = Callable[[FileOutcome], None]
