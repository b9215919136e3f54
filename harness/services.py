"""Real PostgreSQL and Redis for tests. Unreachable servers fail the test, never skip it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import redis

ADMIN_URL = os.environ.get(
    "ARENA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("ARENA_TEST_REDIS_URL", "redis://127.0.0.1:6379")
REDIS_DB = int(os.environ.get("ARENA_TEST_REDIS_DB", "13"))


class ServiceUnavailable(RuntimeError):
    """A server the tests need is down: they fail (never skip) with how to start it."""


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create an empty database for one test and drop it afterwards; yield its URL."""
    name = f"arena_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise ServiceUnavailable(
            f"PostgreSQL is not reachable at {ADMIN_URL} ({exc}); start it (see .ci/run)."
        ) from None
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def clean_redis_url() -> str:
    url = f"{REDIS_URL}/{REDIS_DB}"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=5)
        client.flushdb()
    except redis.RedisError as exc:
        raise ServiceUnavailable(
            f"Redis is not reachable at {url} ({exc}); start it (see .ci/run)."
        ) from None
    return url
