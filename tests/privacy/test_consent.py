"""Consent services on a real database: records, current state, refusals, history, the merge at
sign-up, ``has_consent`` for users and visitors, the registry check, and the audit trail."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from fastapp.accounts import wiring
from fastapp.audit.models import AuditEvent
from fastapp.platform.context import Runtime, open_context
from fastapp.platform.errors import Invalid
from fastapp.platform.privacy import ConsentPurpose
from fastapp.platform.registry import Registry
from fastapp.privacy import consent
from fastapp.privacy.consent import services
from fastapp.privacy.models import ConsentRecord, PolicyVersion
from tests.accounts.conftest import STRONG
from tests.conftest import acting, root_of

VISITOR = "visitor-0123456789abcdef"


@pytest.fixture
def registry(registry: Registry) -> Registry:
    registry.add_consent_purpose(ConsentPurpose(key="ads", label="Advertising", description="Personalised ads."))
    return registry


@pytest.fixture
def runtime(app: object) -> Runtime:
    found: Runtime = root_of(app).state.runtime
    return found


async def make_user(runtime: Runtime, address: str = "ada@example.com") -> uuid.UUID:
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        user = await wiring.accounts(runtime, ctx).create_owner(email=address, password=STRONG, display_name="Ada")
        return user.id


async def records(runtime: Runtime) -> list[ConsentRecord]:
    async with runtime.backends.db.transaction() as session:
        return list((await session.scalars(select(ConsentRecord).order_by(ConsentRecord.created_at))).all())


async def consent_events(runtime: Runtime) -> list[AuditEvent]:
    async with runtime.backends.db.transaction() as session:
        query = select(AuditEvent).where(AuditEvent.action == "privacy.consent.changed").order_by(AuditEvent.seq)
        return list((await session.scalars(query)).all())


def test_the_built_in_purposes_are_registered(registry: Registry) -> None:
    purposes = registry.consent_purposes
    assert list(purposes)[:4] == ["necessary", "preferences", "analytics", "marketing"]
    assert purposes["necessary"].necessary and not purposes["marketing"].necessary
    assert registry.consent_check is consent.check
    with pytest.raises(ValueError, match="registered twice"):
        registry.add_consent_purpose(ConsentPurpose(key="analytics", label="Again", description=""))


async def test_a_decision_records_each_changed_purpose_with_the_policy_version(runtime: Runtime) -> None:
    ada = await make_user(runtime)
    async with runtime.backends.db.transaction() as session:
        now = datetime.now(UTC)
        session.add_all(
            [
                PolicyVersion(
                    kind="privacy",
                    version="1.0",
                    title="P",
                    body="b",
                    effective_at=now - timedelta(days=9),
                    published_at=now,
                ),
                PolicyVersion(
                    kind="privacy",
                    version="2.0",
                    title="P",
                    body="b",
                    effective_at=now - timedelta(days=1),
                    published_at=now,
                ),
                PolicyVersion(
                    kind="privacy",
                    version="3.0",
                    title="P",
                    body="b",
                    effective_at=now + timedelta(days=5),
                    published_at=now,
                ),
                PolicyVersion(
                    kind="terms",
                    version="9.9",
                    title="T",
                    body="b",
                    effective_at=now - timedelta(hours=1),
                    published_at=now,
                ),
            ]
        )
    async with acting(runtime, ada) as ctx:
        state = await services.record_decision(
            ctx, user_id=ada, granted={"analytics": True, "marketing": False, "necessary": True}, source="banner"
        )
    assert state.granted == {
        "necessary": True,
        "preferences": False,
        "analytics": True,
        "marketing": False,
        "ads": False,
    }
    assert state.decided == {"analytics", "marketing"}
    assert not state.complete(runtime.registry.consent_purposes)
    made = await records(runtime)
    assert {(r.purpose, r.granted, r.policy_version, r.source, r.user_id, r.visitor_id) for r in made} == {
        ("analytics", True, "2.0", "banner", ada, None),
        ("marketing", False, "2.0", "banner", ada, None),
    }
    # The same decision again changes nothing and records nothing; a change records only itself.
    async with acting(runtime, ada) as ctx:
        await services.record_decision(ctx, user_id=ada, granted={"analytics": True, "marketing": False}, source="api")
        state = await services.record_decision(
            ctx, user_id=ada, granted={"analytics": False, "marketing": False}, source="settings"
        )
    assert state.granted["analytics"] is False
    assert [(r.purpose, r.granted, r.source) for r in (await records(runtime))[2:]] == [
        ("analytics", False, "settings")
    ]
    events = await consent_events(runtime)
    assert [json.loads(e.data) for e in events] == [
        {"source": "banner", "granted": ["analytics"], "withdrawn": ["marketing"], "policy_version": "2.0"},
        {"source": "settings", "granted": [], "withdrawn": ["analytics"], "policy_version": "2.0"},
    ]
    assert all(e.target_id == str(ada) for e in events)


async def test_current_state_is_the_newest_record_and_nothing_is_granted_without_one(runtime: Runtime) -> None:
    ada = await make_user(runtime)
    async with acting(runtime, ada) as ctx:
        fresh = await services.current(ctx, user_id=ada)
        assert fresh.granted == {k: k == "necessary" for k in runtime.registry.consent_purposes}
        assert fresh.decided == frozenset()
        await services.record_decision(ctx, user_id=ada, granted={"preferences": True}, source="settings")
    async with acting(runtime, ada) as ctx:
        await services.record_decision(ctx, user_id=ada, granted={"preferences": False}, source="settings")
    async with acting(runtime, ada) as ctx:
        await services.record_decision(ctx, user_id=ada, granted={"preferences": True}, source="settings")
        state = await services.current(ctx, user_id=ada)
    assert state.granted["preferences"] is True
    everything = dict.fromkeys(["preferences", "analytics", "marketing", "ads"], False)
    async with acting(runtime, ada) as ctx:
        state = await services.record_decision(ctx, user_id=ada, granted=everything, source="banner")
    assert state.complete(runtime.registry.consent_purposes)


@pytest.mark.parametrize(
    ("granted", "field", "message"),
    [
        ({"necessary": False}, "necessary", "cannot be withdrawn"),
        ({"analytics": True, "tracking": True}, "tracking", "Unknown purpose 'tracking'"),
    ],
    ids=["necessary", "unknown"],
)
async def test_refused_decisions_write_nothing(
    runtime: Runtime, granted: dict[str, bool], field: str, message: str
) -> None:
    ada = await make_user(runtime)
    with pytest.raises(Invalid, match=message) as caught:
        async with acting(runtime, ada) as ctx:
            await services.record_decision(ctx, user_id=ada, granted=granted, source="api")
    assert field in caught.value.fields
    assert await records(runtime) == []
    assert await consent_events(runtime) == []


async def test_a_decision_needs_one_owner_and_a_known_source(runtime: Runtime) -> None:
    ada = await make_user(runtime)
    async with acting(runtime) as ctx:
        with pytest.raises(ValueError, match="exactly one"):
            await services.record_decision(ctx, granted={}, source="banner")
        with pytest.raises(ValueError, match="exactly one"):
            await services.record_decision(ctx, user_id=ada, visitor_id=VISITOR, granted={}, source="banner")
        with pytest.raises(ValueError, match="unknown consent source"):
            await services.record_decision(ctx, user_id=ada, granted={}, source="email")
        with pytest.raises(Invalid, match="visitor id"):
            await services.record_decision(ctx, visitor_id="short", granted={"analytics": True}, source="banner")


async def test_history_is_newest_first_and_paginated(runtime: Runtime) -> None:
    ada = await make_user(runtime)
    other = await make_user(runtime, "bob@example.com")
    for flag in (True, False, True):
        async with acting(runtime, ada) as ctx:
            await services.record_decision(ctx, user_id=ada, granted={"analytics": flag}, source="settings")
    async with acting(runtime, other) as ctx:
        await services.record_decision(ctx, user_id=other, granted={"analytics": True}, source="settings")
    async with acting(runtime, ada) as ctx:
        first = await services.history(ctx, ada, page=1, per_page=2)
        second = await services.history(ctx, ada, page=2, per_page=2)
        with pytest.raises(Invalid):
            await services.history(ctx, ada, page=0)
        with pytest.raises(Invalid):
            await services.history(ctx, ada, per_page=services.MAX_PAGE_SIZE + 1)
    assert (first.total, first.has_next, second.has_next) == (3, True, False)
    assert [r.granted for r in first.items + second.items] == [True, False, True]
    assert all(r.user_id == ada for r in first.items + second.items)


async def test_a_visitor_decides_and_sign_up_merges_the_records(runtime: Runtime) -> None:
    async with acting(runtime) as ctx:
        await services.record_decision(
            ctx, visitor_id=VISITOR, granted={"analytics": True, "marketing": False}, source="banner"
        )
        assert await services.has_consent(ctx, "analytics", visitor_id=VISITOR)
        assert not await services.has_consent(ctx, "marketing", visitor_id=VISITOR)
        assert not await services.has_consent(ctx, "analytics", visitor_id="someone-else-0123456789")
        assert not await services.has_consent(ctx, "analytics", visitor_id="bad id")
        assert not await services.has_consent(ctx, "analytics")  # neither a user nor a visitor
        assert await services.has_consent(ctx, "necessary")
    assert await consent_events(runtime) == []  # visitors are not audited: the records are the evidence
    ada = await make_user(runtime)
    async with acting(runtime) as ctx:
        # The sign-up hook, as accounts calls it with the browser's visitor cookie.
        await consent.merge_at_sign_up(ctx, ada, {"visitor_id": VISITOR, "email": "ada@example.com"})
    made = await records(runtime)
    assert {(r.purpose, r.granted, r.user_id, r.visitor_id, r.source) for r in made} == {
        ("analytics", True, ada, VISITOR, "banner"),
        ("marketing", False, ada, VISITOR, "banner"),
    }
    async with acting(runtime, ada) as ctx:
        assert await services.has_consent(ctx, "analytics")
        assert not await services.has_consent(ctx, "marketing")
        assert await services.has_consent(ctx, "analytics", visitor_id=VISITOR)  # the browser still agrees
    [event] = await consent_events(runtime)
    assert json.loads(event.data) == {
        "source": "sign-up",
        "merged_records": 2,
        "granted": ["analytics"],
        "withdrawn": ["marketing"],
    }
    # A second account from the same browser does not take the first one's records.
    bob = await make_user(runtime, "bob@example.com")
    async with acting(runtime) as ctx:
        assert await services.merge_visitor(ctx, VISITOR, bob) == 0
        await consent.merge_at_sign_up(ctx, bob, {})
        assert await services.merge_visitor(ctx, "not a visitor id", bob) == 0
        assert (await services.current(ctx, user_id=bob)).decided == frozenset()


async def test_has_consent_for_a_user_and_the_registry_check(runtime: Runtime) -> None:
    ada = await make_user(runtime)
    check = runtime.registry.consent_check
    assert check is not None
    async with acting(runtime, ada) as ctx:
        assert not await services.has_consent(ctx, "marketing")
        assert not await check(ctx, ada, "marketing")
        await services.record_decision(ctx, user_id=ada, granted={"marketing": True}, source="settings")
        # In the same transaction, the decision already counts.
        assert await services.has_consent(ctx, "marketing")
        assert await check(ctx, ada, "marketing")
        assert await check(ctx, ada, "necessary")
        assert not await check(ctx, ada, "no-such-purpose")
        with pytest.raises(Invalid, match="Unknown consent purpose"):
            await services.has_consent(ctx, "no-such-purpose")
    async with acting(runtime, ada) as ctx:
        await services.record_decision(ctx, user_id=ada, granted={"marketing": False}, source="settings")
        assert not await services.has_consent(ctx, "marketing")
    async with runtime.backends.db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(ConsentRecord)) == 2
