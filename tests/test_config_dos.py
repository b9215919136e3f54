"""No account can make the API spend CPU on a competition file it may not change, and locating
the problems of a file takes one parse however many problems it has."""

from __future__ import annotations

from unittest import mock

import yaml

from server import config_file
from server.config_file import ConfigInvalid, parse_config_text, problems_by_line
from server.models import Role
from tests.organizer_flow import account, app_on, competition_yaml

API = "/api/v1"
YAML = {"Content-Type": "application/yaml"}


def many_problems_yaml(phases: int) -> str:
    """A competition file whose every phase is wrong (thousands of problems)."""
    lines = [competition_yaml("dos").strip(), "phases:"]
    for i in range(phases):
        lines += [f"  - name: p{i}", "    start: not-a-date", "    bogus: 1"]
    return "\n".join(lines) + "\n"


def test_problems_are_located_with_one_parse():
    text = many_problems_yaml(2000)
    assert len(text) > 60_000
    try:
        parse_config_text(text)
    except ConfigInvalid as exc:
        problems = exc.problems
    assert len(problems) >= 2000
    with mock.patch.object(config_file.yaml, "compose", wraps=yaml.compose) as compose:
        by_line = problems_by_line(text, problems)
    assert compose.call_count == 1
    assert sum(len(v) for v in by_line.values()) == len(problems)
    assert any(line and line > 1000 for line in by_line)  # located, not all "general"


def test_only_managers_make_the_api_parse_and_bodies_are_capped(tmp_path):
    with app_on(f"sqlite:///{tmp_path / 'arena.db'}", tmp_path / "var") as client:
        olga = account(client, "olga-dos", Role.ORGANIZER)
        mallory = account(client, "mallory-dos")
        made = client.post(
            f"{API}/competitions", content=competition_yaml("dos"), headers=olga | YAML
        )
        assert made.status_code == 201, made.text
        big = many_problems_yaml(2000)
        with mock.patch.object(config_file.yaml, "compose", wraps=yaml.compose) as compose, \
                mock.patch.object(config_file.yaml, "safe_load", wraps=yaml.safe_load) as load:  # fmt: skip
            r = client.put(f"{API}/competitions/dos", content=big, headers=mallory | YAML)
            assert r.status_code == 403 and "Only the organizers" in r.json()["detail"]
            r = client.post(f"{API}/competitions", content=big, headers=mallory | YAML)
            assert r.status_code == 403
            assert compose.call_count == 0 and load.call_count == 0  # refused before parsing
        huge = "#" * (2 << 20)
        r = client.put(f"{API}/competitions/dos", content=huge, headers=olga | YAML)
        assert r.status_code == 413 and "KiB" in r.json()["detail"]
        r = client.put(f"{API}/competitions/dos", content=big, headers=olga | YAML)
        assert r.status_code == 422 and len(r.json()["problems"]) >= 2000  # the owner: answered
