"""Where files live under the storage directory, and how they reach other nodes.

Paths are local (``<var_dir>/storage``). With ``ARENA_STORAGE_URL`` set, the local directory is
this node's cache of a shared store (:mod:`core.remote_storage`): writers :meth:`Storage.push`
what they wrote, readers :meth:`Storage.pull` what another node may have written. Without it
every method but the path helpers is a no-op, and several machines share files by mounting one
filesystem at the same path.
"""

from __future__ import annotations

from pathlib import Path

from core.remote_storage import RemoteStore
from core.settings import Settings


class Storage:
    def __init__(self, settings: Settings) -> None:
        self.root = settings.storage_dir
        self.remote = (
            RemoteStore(
                settings.storage_url,
                settings.storage_options,
                self.root,
                settings.var_dir / "remote-tokens",
            )
            if settings.storage_url
            else None
        )

    def competition_dir(self, slug: str) -> Path:
        return self.root / "competitions" / slug

    def dataset_file(self, slug: str) -> Path:
        """The uploaded hidden dataset; outside the competition's artefacts (kept on re-preparation)."""
        return self.root / "datasets" / slug / "dataset.npz"

    def bundle_file(self, slug: str, sha256: str) -> Path:
        """A competition's bundle files (pages, starter kit, dev split) as one zip, by content."""
        return self.root / "bundles" / slug / f"{sha256[:32]}.zip"

    def staging_file(self, token: str) -> Path:
        """Where an upload is written before it has an id (same filesystem: moved by rename)."""
        return self.root / "staging" / f"{token}.part"

    def submission_dir(self, submission_id: int) -> Path:
        return self.root / "submissions" / f"{submission_id:08d}"

    def submission_code(self, submission_id: int, kind: str = "py") -> Path:
        return self.submission_dir(submission_id) / f"submission.{kind}"

    def run_outputs(self, submission_id: int, index: int) -> Path:
        return self.submission_dir(submission_id) / "runs" / f"{index:05d}.npz"

    def run_log(self, submission_id: int, index: int) -> Path:
        return self.submission_dir(submission_id) / "logs" / f"run-{index:05d}.log"

    def diagnostic_log(self, submission_id: int) -> Path:
        """The log of the submission's run on public data (its author reads it)."""
        return self.submission_dir(submission_id) / "logs" / "diagnostic.log"

    # sharing with other nodes (no-ops without a remote store)

    def push(self, *paths: Path) -> None:
        """Share files this node has just written."""
        if self.remote is not None:
            for path in paths:
                self.remote.push(path)

    def pull(self, path: Path) -> Path:
        """The local path of a file another node may have written, fetched if needed."""
        if self.remote is not None:
            self.remote.pull(path)
        return path

    def pull_tree(self, folder: Path) -> Path:
        """Every file under ``folder``, fetched where needed; returns ``folder``."""
        if self.remote is not None:
            self.remote.pull_tree(folder)
        return folder

    def shared_names(self, folder: Path) -> set[str]:
        """File names directly under ``folder`` here or in the shared store."""
        local = {p.name for p in folder.iterdir() if p.is_file()} if folder.is_dir() else set()
        return local | (self.remote.names(folder) if self.remote is not None else set())

    def forget(self, path: Path) -> None:
        """Remove the shared copies of ``path`` (a file or a folder); callers remove the local one."""
        if self.remote is not None:
            self.remote.delete(path)
