"""Artefacts shared through an object store or any other fsspec filesystem
(``ARENA_STORAGE_URL``, e.g. ``s3://bucket/arena``), with the local storage directory as
each node's cache.

Every file the platform writes is written locally first (as without a remote) and then
*pushed*; a file another node wrote is *pulled* before it is read. A local copy is reused while
the remote file's identity token (its ETag, or size and modification time) is the one it was
downloaded with, so a file rewritten elsewhere (a re-prepared competition's references) is
fetched again. Tokens live beside the cache, under ``<var>/remote-tokens``, never among the
artefacts. Downloads land under a temporary name and are renamed into place, so a reader never
sees half a file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any

import fsspec


def _token(info: dict[str, Any]) -> str:
    """What identifies one version of a remote file: the ETag where the store gives one."""
    etag = info.get("ETag") or info.get("etag")
    if etag:
        return str(etag).strip('"')
    when = info.get("mtime") or info.get("LastModified") or info.get("created") or ""
    return f"{info.get('size')}:{when}"


class RemoteStore:
    """A mirror of ``local_root`` at the fsspec URL ``url``: same relative paths on both sides."""

    def __init__(
        self, url: str, options: dict[str, Any], local_root: Path, token_root: Path
    ) -> None:
        # other nodes write here: a listing cached by this process would hide their files
        self.fs, self.base = fsspec.core.url_to_fs(url, **{"use_listings_cache": False, **options})
        self.base = self.base.rstrip("/")
        self.local_root = local_root
        self.token_root = token_root

    def _key(self, path: Path) -> str:
        rel = path.resolve().relative_to(self.local_root.resolve()).as_posix()
        return f"{self.base}/{rel}" if rel != "." else self.base

    def _local(self, key: str) -> Path:
        rel = key[len(self.base) :].lstrip("/")
        return self.local_root / rel

    def _token_file(self, path: Path) -> Path:
        return self.token_root / path.resolve().relative_to(self.local_root.resolve())

    def push(self, path: Path) -> None:
        """Upload the local file ``path`` (under the local root) to its place in the store."""
        key = self._key(path)
        parent = key.rsplit("/", 1)[0]
        with contextlib.suppress(FileExistsError):
            self.fs.makedirs(parent, exist_ok=True)
        self.fs.put_file(str(path), key)
        self._remember(path, self.fs.info(key))

    def pull(self, path: Path) -> bool:
        """Make the local copy of ``path`` current; False when the store does not have it
        (a local file, if any, is then left as it is)."""
        key = self._key(path)
        try:
            info = self.fs.info(key)
        except FileNotFoundError:
            return False
        if info.get("type") == "directory":
            return False
        self._fetch(key, path, info)
        return True

    def pull_tree(self, folder: Path) -> int:
        """Make the local copies of every file under ``folder`` current; returns how many
        files the store holds there."""
        key = self._key(folder)
        try:
            found = self.fs.find(key, detail=True)
        except FileNotFoundError:
            return 0
        for remote_key, info in found.items():
            self._fetch(remote_key, self._local(remote_key), info)
        return len(found)

    def names(self, folder: Path) -> set[str]:
        """The file names directly under ``folder`` in the store."""
        key = self._key(folder)
        try:
            return {p.rsplit("/", 1)[-1] for p in self.fs.ls(key, detail=False)}
        except FileNotFoundError:
            return set()

    def delete(self, path: Path) -> None:
        """Remove ``path`` (a file or a folder) from the store and its tokens from the cache."""
        key = self._key(path)
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(key, recursive=True)
        token = self._token_file(path)
        if token.is_dir():
            shutil.rmtree(token, ignore_errors=True)
        else:
            token.unlink(missing_ok=True)

    def _fetch(self, key: str, path: Path, info: dict[str, Any]) -> None:
        token = _token(info)
        token_file = self._token_file(path)
        if path.is_file() and token_file.is_file() and token_file.read_text() == token:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
        try:
            self.fs.get_file(key, str(tmp))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        self._remember(path, info)

    def _remember(self, path: Path, info: dict[str, Any]) -> None:
        token_file = self._token_file(path)
        token_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = token_file.with_name(f".{token_file.name}.{os.getpid()}.part")
        tmp.write_text(_token(info))
        os.replace(tmp, token_file)
