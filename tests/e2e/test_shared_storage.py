"""Shared artefact storage through fsspec (``ARENA_STORAGE_URL``): nodes that share no disk
exchange uploads, artefacts, run outputs and logs through the store, each keeping its own
cache. Two stores: fsspec's local filesystem (``file://``) in a folder none of the nodes uses
as its own, and an S3 bucket through s3fs, served over HTTP by moto's S3 server (an emulator of
the S3 protocol: s3fs, aiobotocore and botocore run as against a real bucket)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.db import make_engine
from core.models import Competition, CompetitionOrganizer, Role, User
from core.settings import Settings
from core.storage import Storage
from harness.platform import (
    ROOT,
    free_port,
    running_platform,
    start_worker,
    stop_workers,
    tiny_config,
    wait_for_competition,
    wait_for_submission,
)
from harness.scenario import create_competition_in, participant, upload
from harness.services import clean_redis_url, fresh_postgres_database


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """An S3 endpoint on 127.0.0.1 (moto's server, in its own process)."""
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "moto's S3 server did not start"
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(params=["file", "s3"])
def store(request, tmp_path) -> tuple[str, dict[str, Any]]:
    """A fresh shared store: (URL, storage options)."""
    if request.param == "file":
        return (tmp_path / "store").as_uri(), {}
    endpoint = request.getfixturevalue("s3_endpoint")
    options = {"endpoint_url": endpoint, "key": "arena", "secret": "arena-secret"}
    bucket = f"arena-{uuid.uuid4().hex[:12]}"
    fsspec.filesystem("s3", **options, skip_instance_cache=True).mkdir(bucket)
    return f"s3://{bucket}/artefacts", options


def _node(tmp_path: Path, name: str, store: tuple[str, dict[str, Any]]) -> Storage:
    """A node of its own: its var directory, and its own filesystem object (as in another
    process: no listing cached by one node serves another)."""
    url, options = store
    options = options | {"skip_instance_cache": True}
    return Storage(Settings(var_dir=tmp_path / name, storage_url=url, storage_options=options))


def _stored(storage: Storage, path: Path) -> bytes:
    """What the shared store holds for ``path`` (read through fsspec, not through a cache)."""
    return storage.remote.fs.cat_file(storage.remote._key(path))


def test_a_file_written_on_one_node_is_read_on_another(tmp_path, store):
    a, b = _node(tmp_path, "a", store), _node(tmp_path, "b", store)
    path_a = a.run_outputs(7, 3)
    path_a.parent.mkdir(parents=True)
    path_a.write_bytes(b"first")
    a.push(path_a)
    assert _stored(a, path_a) == b"first"

    path_b = b.pull(b.run_outputs(7, 3))
    assert path_b != path_a and path_b.read_bytes() == b"first"
    # rewritten elsewhere: the next pull fetches the new version; unchanged, it is not fetched
    path_a.write_bytes(b"second, longer")
    a.push(path_a)
    assert b.pull(path_b).read_bytes() == b"second, longer"
    path_b.write_bytes(b"local edit")  # a cache hit keeps what is on disk
    assert b.pull(path_b).read_bytes() == b"local edit"

    assert not b.pull(b.run_log(7, 3)).exists()  # absent everywhere: nothing appears
    assert not b.remote.pull(b.run_log(7, 3))
    # the cache tokens stay out of the artefacts
    assert not any(p.name.endswith(".part") for p in (tmp_path / "b").rglob("*"))
    assert sorted(p.name for p in (tmp_path / "b" / "storage").rglob("*") if p.is_file()) == [
        "00003.npz"
    ]


def test_folders_are_pulled_listed_and_forgotten(tmp_path, store):
    a, b = _node(tmp_path, "a", store), _node(tmp_path, "b", store)
    refs = a.competition_dir("c") / "references"
    refs.mkdir(parents=True)
    for k in range(3):
        (refs / f"ref-{k:05d}.npz").write_bytes(bytes([k]) * 10)
        a.push(refs / f"ref-{k:05d}.npz")
    (refs / "ref-00009.npz").write_bytes(b"local only")
    assert b.shared_names(b.competition_dir("c") / "references") == {
        "ref-00000.npz",
        "ref-00001.npz",
        "ref-00002.npz",
    }
    assert a.shared_names(refs) == {f"ref-{k:05d}.npz" for k in (0, 1, 2, 9)}

    b.pull_tree(b.competition_dir("c"))
    got = b.competition_dir("c") / "references"
    assert sorted(p.name for p in got.iterdir()) == [f"ref-{k:05d}.npz" for k in range(3)]
    assert (got / "ref-00002.npz").read_bytes() == bytes([2]) * 10
    # written and rewritten on another node after this one listed the folder: not missed
    (refs / "ref-00003.npz").write_bytes(b"new")
    (refs / "ref-00000.npz").write_bytes(b"rewritten, longer")
    a.push(refs / "ref-00003.npz", refs / "ref-00000.npz")
    assert "ref-00003.npz" in b.shared_names(got)
    b.pull_tree(b.competition_dir("c"))
    assert (got / "ref-00003.npz").read_bytes() == b"new"
    assert (got / "ref-00000.npz").read_bytes() == b"rewritten, longer"
    assert b.pull(got / "ref-00002.npz").read_bytes() == bytes([2]) * 10

    a.forget(a.competition_dir("c"))
    assert not a.remote.pull(refs / "ref-00000.npz")  # the store no longer has it
    assert a.remote.names(refs) == set()
    assert b.shared_names(got) == {p.name for p in got.iterdir()}  # b's cache is b's own
    assert len(b.shared_names(got)) == 4
    assert not (tmp_path / "a" / "remote-tokens" / "competitions" / "c").exists()


def test_without_a_store_sharing_is_a_no_op(tmp_path):
    storage = Storage(Settings(var_dir=tmp_path / "v"))
    assert storage.remote is None
    path = storage.run_log(1, 0)
    path.parent.mkdir(parents=True)
    path.write_text("x")
    storage.push(path)
    storage.forget(path.parent)
    assert storage.pull(path).read_text() == "x"
    assert storage.shared_names(path.parent) == {"run-00000.log"}
    assert not (tmp_path / "v" / "remote-tokens").exists()


def test_storage_options_are_read_as_json(monkeypatch):
    monkeypatch.setenv("ARENA_STORAGE_URL", "s3://arena-artefacts/demo")
    monkeypatch.setenv("ARENA_STORAGE_OPTIONS", '{"endpoint_url": "http://127.0.0.1:9000"}')
    settings = Settings()
    assert settings.storage_url == "s3://arena-artefacts/demo"
    assert settings.storage_options == {"endpoint_url": "http://127.0.0.1:9000"}


@pytest.mark.e2e
@pytest.mark.services
def test_nodes_without_a_shared_disk_prepare_and_score_through_the_store(tmp_path, store):
    """The API and two workers, each with its own var directory, on PostgreSQL and Redis:
    the competition is prepared in chunks and a submission scored in chunks across both
    workers, and the organizer reads run logs through the API; only the store joins them."""
    store_url, options = store
    with fresh_postgres_database() as db_url:
        sa_url = db_url.replace("postgresql://", "postgresql+psycopg://")
        config = tiny_config("shared", n_models=6)
        config.execution.runs_per_chunk = 2
        config.execution.references_per_chunk = 2
        config.execution.hardware_class = "cpu-shared"
        create_competition_in(sa_url, config)
        common = {
            "DATABASE_URL": db_url,
            "BROKER_URL": clean_redis_url(),
            "ARENA_STORAGE_URL": store_url,
            "ARENA_STORAGE_OPTIONS": json.dumps(options),
            "ARENA_HEARTBEAT_SECONDS": "1",
            "ARENA_HARDWARE_CLASS": "cpu-shared",
        }
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BROKER_URL")}
        workers = [
            start_worker(
                env | common | {"ARENA_VAR_DIR": str(tmp_path / f"worker{i}")},
                tmp_path / f"worker{i}.log",
            )
            for i in range(2)
        ]
        try:
            api_env = common | {
                "ARENA_VAR_DIR": str(tmp_path / "api"),
                "ARENA_START_WORKER": "false",
            }
            with running_platform(api_env, tmp_path / "serve.log", require_worker=False) as url:
                assert wait_for_competition(url, "shared", timeout=240)["status"] == "open"
                olivia = participant(url, "olivia")
                engine = make_engine(sa_url)
                with Session(engine) as s:
                    s.execute(
                        update(User).where(User.username == "olivia").values(role=Role.ORGANIZER)
                    )
                    uid = s.scalar(select(User.id).where(User.username == "olivia"))
                    cid = s.scalar(select(Competition.id).where(Competition.slug == "shared"))
                    s.add(CompetitionOrganizer(competition_id=cid, user_id=uid))
                    s.commit()
                engine.dispose()
                code = (ROOT / "examples" / "finetune.py").read_bytes()
                sid = upload(olivia, "shared", "finetune.py", code)
                done = wait_for_submission(olivia, sid, timeout=240)
                assert done["status"] == "scored", done
                assert done["runs_done"] == 6 and done["score"] is not None

                logs = olivia.get(f"/api/v1/submissions/{sid}/logs").json()["runs"]
                assert len(logs) == 6 and all(r["log"] is not None for r in logs)
        finally:
            stop_workers(*workers)

    # everything the nodes exchanged is in the store ...
    fs, base = fsspec.core.url_to_fs(store_url, **options, skip_instance_cache=True)

    def names(folder: str, pattern: str = "*") -> set[str]:
        return {p.rsplit("/", 1)[-1] for p in fs.glob(f"{base}/{folder}/{pattern}")}

    assert names("competitions/shared") >= {
        "original.safetensors",
        "original_outputs.npz",
        "references.npz",
        "fingerprint.json",
        "timing.json",
    }
    assert len(names("competitions/shared/references", "ref-*.npz")) == 6
    sub_dir = f"submissions/{sid:08d}"
    assert fs.cat_file(f"{base}/{sub_dir}/submission.py") == code
    assert len(names(f"{sub_dir}/runs", "*.npz")) == 6
    assert len(names(f"{sub_dir}/logs", "run-*.log")) == 6
    assert names(f"{sub_dir}/logs", "diagnostic.log")  # the run on public data, shared too
    # ... the API never held the competition's artefacts; the workers trained and ran in their own caches
    assert not (tmp_path / "api" / "storage" / "competitions").exists()
    local_runs = [
        {p.name for p in (tmp_path / f"worker{i}" / "storage" / "submissions").rglob("*.npz")}
        for i in range(2)
    ]
    assert local_runs[0] | local_runs[1] >= {f"{i:05d}.npz" for i in range(6)}
    trained_refs = [
        len(list((tmp_path / f"worker{i}" / "storage" / "competitions").rglob("ref-*.npz")))
        for i in range(2)
    ]
    assert sum(trained_refs) >= 6


@pytest.mark.parametrize(
    ("url", "fragment"),
    [("nosuch://bucket/x", "nosuch"), ("s3://bucket/x", None)],
)
def test_a_store_this_machine_cannot_reach_is_refused_at_start(monkeypatch, url, fragment):
    from pydantic import ValidationError

    monkeypatch.setenv("ARENA_STORAGE_URL", url)
    if fragment is None:  # s3fs is installed with the dev extra
        assert Settings().storage_url == url
        return
    with pytest.raises(ValidationError) as err:
        Settings()
    assert fragment in str(err.value) and "fsspec URL" in str(err.value)
