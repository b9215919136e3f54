"""Where files live under the storage directory. Paths only; no I/O policy here."""

from __future__ import annotations

from pathlib import Path

from server.settings import Settings


class Storage:
    def __init__(self, settings: Settings) -> None:
        self.root = settings.storage_dir

    def competition_dir(self, slug: str) -> Path:
        return self.root / "competitions" / slug

    def dataset_file(self, slug: str) -> Path:
        """The uploaded hidden dataset; outside the competition's artefacts (kept on re-preparation)."""
        return self.root / "datasets" / slug / "dataset.npz"

    def submission_dir(self, submission_id: int) -> Path:
        return self.root / "submissions" / f"{submission_id:08d}"

    def submission_code(self, submission_id: int, kind: str = "py") -> Path:
        return self.submission_dir(submission_id) / f"submission.{kind}"

    def run_outputs(self, submission_id: int, index: int) -> Path:
        return self.submission_dir(submission_id) / "runs" / f"{index:05d}.npz"

    def run_log(self, submission_id: int, index: int) -> Path:
        return self.submission_dir(submission_id) / "logs" / f"run-{index:05d}.log"
