"""The platform's one typed settings object, read from environment variables.

Every setting is documented in README.md (section "Settings"). The API server, the worker and
the CLI read the same object; nothing else reads ``os.environ``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import fsspec
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ARENA_", extra="ignore", populate_by_name=True)

    database_url: str = Field(
        default="",
        validation_alias=AliasChoices("DATABASE_URL", "ARENA_DATABASE_URL"),
        description="SQLAlchemy URL; empty means SQLite at <var_dir>/arena.db.",
    )
    broker_url: str = Field(
        default="",
        validation_alias=AliasChoices("BROKER_URL", "ARENA_BROKER_URL"),
        description="Celery broker URL (redis:// or amqp://); empty means the embedded filesystem broker.",
    )
    host: str = Field(default="127.0.0.1", description="Address the API listens on.")
    port: int = Field(
        default=8000, validation_alias=AliasChoices("PORT", "ARENA_PORT"), ge=1, le=65535
    )
    var_dir: Path = Field(
        default=Path("var"), description="Where the embedded database, broker and files live."
    )
    storage_url: str = Field(
        default="",
        description="fsspec URL of shared artefact storage (e.g. `s3://bucket/arena`, with the `s3` "
        "extra); every node then keeps `<var_dir>/storage` as its cache. Empty: `<var_dir>/storage` "
        "itself, which several machines share by mounting one filesystem there.",
    )
    storage_options: dict[str, Any] = Field(
        default_factory=dict,
        description='JSON options for the storage URL\'s filesystem, e.g. `{"endpoint_url": '
        '"http://minio:9000"}` for an S3-compatible store (credentials: the usual AWS variables).',
    )
    wheelhouse: Path | None = Field(
        default=None,
        description="A folder of wheels that competition runtimes install from, with no index "
        "(air-gapped workers); unset: uv's default index.",
    )
    max_upload_bytes: int = Field(
        default=1_000_000, ge=1, description="Largest accepted submission file."
    )
    max_request_bytes: int = Field(
        default=64 << 20,
        ge=1,
        description="Largest request body of any kind (refused before it is read; datasets: "
        "ARENA_MAX_DATASET_BYTES). A competition's own submission limit may not exceed it.",
    )
    max_dataset_bytes: int = Field(
        default=4 << 30, ge=1, description="Largest accepted hidden-dataset upload (.npz)."
    )
    worker_threads: int = Field(
        default=0, ge=0, description="CPU threads per run and for training; 0 = all cores."
    )
    hardware_class: str = Field(
        default="",
        description="The hardware class this worker declares (e.g. `cpu-2t`, "
        "`cuda-nvidia-h100-80gb-hbm3-16t`); empty = detected from the device and the thread count. "
        "A worker takes fanned-out runs and references only from its own class's queue.",
    )
    seed_demo: bool = Field(
        default=True, description="`arena serve` seeds the digits-demo competition."
    )
    start_worker: bool = Field(
        default=True, description="`arena serve` starts one local Celery worker."
    )
    retention_days: int = Field(
        default=90, ge=0, description="Files of a closed competition are deleted after this."
    )
    log_compact_days: int = Field(
        default=7, ge=0, description="Run logs of scored submissions are gzipped after this."
    )
    leaderboard_cache_seconds: float = Field(
        default=5.0, ge=0, description="How long a built leaderboard is reused (0: never)."
    )
    access_log: bool = Field(default=True, description="`arena serve` logs every request.")
    log_format: Literal["text", "json"] = Field(
        default="text", description="Worker logs: text, or one JSON object per line with ids."
    )
    heartbeat_seconds: float = Field(default=10.0, gt=0, description="Worker heartbeat interval.")
    token_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="API tokens (and browser sessions) expire this many days after they were "
        "made; tokens made before a change follow the new value.",
    )
    stale_after_seconds: float = Field(
        default=120.0,
        gt=0,
        description="Work whose heartbeat is older than this is presumed lost and requeued.",
    )
    max_attempts: int = Field(
        default=3, ge=1, description="Tries of a submission or preparation before it fails."
    )
    reaper_interval_seconds: float = Field(
        default=30.0, gt=0, description="How often each worker looks for lost work."
    )
    sandbox_user: str = Field(
        default="arena-sandbox",
        description="Unprivileged user that runs participant code (worker as root).",
    )
    unsafe_no_sandbox: bool = Field(
        default=False,
        description="Development only: run participant code unconfined when bubblewrap is unavailable.",
    )

    @field_validator("storage_url")
    @classmethod
    def _known_store(cls, value: str) -> str:
        """The store's filesystem must exist here (e.g. s3fs for ``s3://``) before any job runs."""
        value = value.strip()
        if value:
            try:
                fsspec.get_filesystem_class(fsspec.utils.get_protocol(value))
            except (ValueError, ImportError) as exc:
                raise ValueError(
                    f"ARENA_STORAGE_URL={value!r} cannot be used here: {exc}. Use an fsspec URL "
                    "such as s3://bucket/prefix (pip install 'unlearning-arena[s3]') or leave it "
                    "empty for ARENA_VAR_DIR/storage."
                ) from None
        return value

    @field_validator("var_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def storage_dir(self) -> Path:
        return self.var_dir / "storage"

    @property
    def broker_dir(self) -> Path:
        return self.var_dir / "broker"

    @property
    def sqlalchemy_url(self) -> str:
        url = self.database_url.strip()
        if not url:
            return f"sqlite:///{self.var_dir / 'arena.db'}"
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @property
    def celery_broker_url(self) -> str:
        return self.broker_url.strip() or "filesystem://"

    @property
    def embedded_broker(self) -> bool:
        return self.celery_broker_url.startswith("filesystem://")

    def ensure_dirs(self) -> None:
        for path in (self.var_dir, self.storage_dir):
            path.mkdir(parents=True, exist_ok=True)
        if self.embedded_broker:
            for sub in ("queue", "processed"):
                (self.broker_dir / sub).mkdir(parents=True, exist_ok=True)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once from the environment."""
    return Settings()
