"""A competition and participants on a live platform: seeded into its database, accounts with
tokens that accepted the rules, uploads."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy.orm import Session

from core.competition_config import CompetitionConfig
from core.db import make_engine
from core.migrate import upgrade_database
from server.services.platform import seed_competition

ROOT = Path(__file__).resolve().parent.parent
GOOD_SUBMISSION = (
    b"def unlearning(net, retain_loader, forget_loader, val_loader):\n    return net\n"
)


def create_competition_in(url: str, config: CompetitionConfig) -> None:
    upgrade_database(url)
    engine = make_engine(url)
    with Session(engine) as s:
        seed_competition(s, config)
    engine.dispose()


def participant(url: str, name: str) -> httpx.Client:
    r = httpx.post(f"{url}/api/v1/users", json={"username": name, "password": "correct horse"})
    assert r.status_code == 201, r.text
    r = httpx.post(f"{url}/api/v1/tokens", json={"username": name, "password": "correct horse"})
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def upload(client: httpx.Client, slug: str, name: str, content: bytes) -> int:
    assert client.post(f"/api/v1/competitions/{slug}/rules/accept").status_code == 200
    r = client.post(f"/api/v1/competitions/{slug}/submissions", files={"file": (name, content)})
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "queued"
    return r.json()["id"]
