"""One user's export through every registered exporter (``privacy.registry.collect_export``):
a key per source, their data in each, JSON-ready, and nothing of anyone else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fastapp.config import Config
from fastapp.platform.context import Runtime, open_context
from fastapp.privacy.registry import collect_export
from tests.conftest import root_of
from tests.privacy.people import ada, bob, fill_in, people_config, sign_up


@pytest.fixture
def config(tmp_path: Path, database_url: str, redis_url: str) -> Config:
    return people_config(tmp_path, database_url, redis_url)


async def test_an_export_holds_every_source_of_the_user_and_nothing_of_others(app: object, config: Config) -> None:
    runtime: Runtime = root_of(app).state.runtime
    a, b = ada(), bob()
    for person in (a, b):
        await sign_up(app, config, person)
    await fill_in(app, runtime, config, a, b)
    await fill_in(app, runtime, config, b, a)
    seen: list[tuple[str, int, int]] = []

    async def progress(label: str, done: int, total: int) -> None:
        seen.append((label, done, total))

    async with open_context(runtime, request_id="export", ip=None) as ctx:
        exported = await collect_export(ctx, a.id, progress=progress)
    assert set(exported) == set(runtime.registry.personal_data)
    assert len(seen) == len(exported)
    text = {key: json.dumps(data.records, sort_keys=True) for key, data in exported.items()}
    for key, data in exported.items():
        assert any(data.records.values()), f"{key} exported nothing of the user"
    for forbidden in (b.email, b.name, b.ip, str(b.id)):
        assert all(forbidden.lower() not in dumped.lower() for dumped in text.values()), forbidden

    accounts = exported["accounts"].records
    assert accounts["account"][0]["email"] == a.email
    assert {s["ip"] for s in accounts["sessions"]} == {a.ip}
    assert accounts["recovery_codes"] == [{"total": 1, "unused": 1, "used_at": []}]
    assert [t["name"] for t in accounts["personal_access_tokens"]] == [f"{a.name}'s laptop"]
    assert "hash" not in text["accounts"]
    profile = exported["profile"]
    assert profile.records["profile"][0]["bio"] == f"Hello, I am {a.name}."
    assert profile.records["profile"][0]["fields"] == {"nickname": a.name}
    assert [f.name for f in profile.files] == ["avatar/" + f.name.split("/", 1)[1] for f in profile.files]
    files = exported["files"]
    assert sorted(f.name.split("/", 1)[1] for f in files.files) == ["cat.png", "me.png", "notes.txt"]
    assert {r["name"] for r in files.records["files"]} == {"cat.png", "me.png", "notes.txt"}
    email = exported["email"].records
    assert {m["to"] for m in email["messages"]} == {a.email}
    assert any(e["type"] == "delivered" for m in email["messages"] for e in m["events"])
    assert email["suppressions"][0]["address"] == a.email.lower()
    assert "context" not in text["email"]
    assert exported["notifications"].records["notifications"][0]["title"] == "You now have the member role"
    privacy = exported["privacy"].records
    assert [c["purpose"] for c in privacy["consent"]] == ["analytics"]
    assert privacy["policy_acceptances"][0]["source"] == "sign-up"
    events = exported["audit"].records["events"]
    assert any(e["by_you"] and e["ip"] == a.ip for e in events)
    assert any(not e["by_you"] and "ip" not in e for e in events)  # another's failed sign-in as them
    assert [j["name"] for j in exported["jobs"].records["jobs"]] == ["email.feedback"]  # names only
    assert a.email.lower() not in text["jobs"].lower()
