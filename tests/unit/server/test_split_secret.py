"""No secret leaves (docs/security.md): the hidden split is drawn from a server-side secret
that no kit, export, bundle, API answer or page carries; the published seed is only the kit's
development seed. A real SQLite database, the HTTP API in process."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from core.db import session_scope
from core.hidden_seed import working_config, working_seed
from core.models import Competition, Role
from core.splits import make_splits, public_mask
from harness.platform import tiny_config
from server.app import create_app
from server.services.platform import seed_competition
from server.services.users import create_user, issue_token

SLUG = "secret-split"
API = "/api/v1"


@pytest.fixture(scope="module")
def world(migrated_db):
    with session_scope() as s:
        comp = seed_competition(s, tiny_config(SLUG))
        owner = create_user(s, "s-owner", "secret-password-1", Role.ORGANIZER)
        comp.owner_id = owner.id
        s.commit()
        token = issue_token(s, "s-owner", "secret-password-1")
        secret, cid = comp.split_secret, comp.id
    return {"secret": secret, "id": cid, "owner": {"Authorization": f"Bearer {token}"}}


def test_a_new_competition_has_a_secret_and_a_working_seed_of_its_own(world):
    assert world["secret"] and len(world["secret"]) == 64
    cfg = tiny_config(SLUG)
    assert working_seed(cfg.seed, world["secret"]) != cfg.seed


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), secret=st.text("0123456789abcdef", min_size=64, max_size=64))
def test_the_published_seed_does_not_give_the_hidden_split(seed, secret):
    """Knowing the seed of a kit (and data that can be regenerated) does not give the forget
    set or the public part of it."""
    cfg = tiny_config(SLUG).model_copy(update={"seed": seed})
    hidden = working_config(cfg.model_dump(mode="json"), secret)
    published = make_splits(300, cfg.split, cfg.seed)
    drawn = make_splits(300, hidden.split, hidden.seed)
    assert not np.array_equal(published.forget, drawn.forget)
    assert hidden.seed == working_seed(seed, secret)
    mask = public_mask(24, cfg.leaderboard.public_fraction, hidden.seed)
    assert mask.shape == (24,)


def _texts(client: TestClient, headers: dict) -> list[str]:
    out = []
    for path in (
        f"{API}/competitions/{SLUG}",
        f"{API}/competitions",
        f"{API}/competitions/{SLUG}/leaderboard",
        f"{API}/competitions/{SLUG}/leaderboard.csv",
        f"/c/{SLUG}",
        f"/c/{SLUG}/leaderboard",
        f"{API}/competitions/{SLUG}/config",
    ):
        r = client.get(path, headers=headers)
        assert r.status_code in (200, 401, 403), (path, r.status_code)  # config: organizers
        out.append(r.text)
    return out


def test_no_view_carries_the_secret_or_the_working_seed(world):
    client = TestClient(create_app())
    cfg = tiny_config(SLUG)
    working = str(working_seed(cfg.seed, world["secret"]))
    for headers in ({}, world["owner"]):  # anonymous, and even the organizer
        for text in _texts(client, headers):
            assert world["secret"] not in text
            assert working not in text


def test_an_organizer_resplits_a_competition_whose_split_may_be_known(world):
    with session_scope() as s:
        s.get(Competition, world["id"]).split_secret = None  # as created before the secret
    client = TestClient(create_app())
    r = client.post(f"{API}/competitions/{SLUG}/resplit", headers=world["owner"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "draft" and "Re-split" in r.json()["status_message"]
    with session_scope() as s:
        fresh = s.get(Competition, world["id"]).split_secret
    assert fresh and fresh != world["secret"]
    assert client.post(f"{API}/competitions/{SLUG}/resplit").status_code in (401, 403)


def test_the_working_seed_is_out_of_brute_force_reach_and_a_valid_setting():
    """63 bits (a run that recognises its examples in a public dataset could test every 31-bit
    seed in a day), and a working config still validates (it is sent to the workers as JSON)."""
    from core.competition_config import CompetitionConfig

    seeds = {working_seed(7, f"{i:064x}") for i in range(200)}
    assert len(seeds) == 200 and max(seeds) > 2**40
    working = working_config(tiny_config(SLUG).model_dump(mode="json"), "ab" * 32)
    assert CompetitionConfig.model_validate_json(working.model_dump_json()).seed == working.seed
