"""Policy version services on a real database: publishing (permission, refusals, audit), the
current version and pending acceptances as time passes, accepting (idempotent, only current
versions) and the version list."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from fastapp.audit.models import AuditEvent
from fastapp.platform.context import Runtime
from fastapp.platform.errors import Conflict, Invalid, PermissionDenied
from fastapp.privacy.models import PolicyAcceptance
from fastapp.privacy.policies import services
from tests.conftest import root_of
from tests.privacy.policies_support import MovableClock, acting, make_user, owner_id, publish


@pytest.fixture
def runtime(app: object) -> Runtime:
    found: Runtime = root_of(app).state.runtime
    return found


async def events(runtime: Runtime, action: str) -> list[AuditEvent]:
    async with runtime.backends.db.transaction() as session:
        return list(
            await session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq))
        )


async def test_publishing_needs_the_permission(runtime: Runtime) -> None:
    ada = await make_user(runtime, "ada@example.com")
    async with acting(runtime, ada) as ctx:
        with pytest.raises(PermissionDenied):
            await services.publish(ctx, kind="terms", version="1", title="Terms", body="Be nice.", effective_at=None)
    async with acting(runtime) as ctx:
        with pytest.raises(PermissionDenied):
            await services.publish(ctx, kind="terms", version="1", title="Terms", body="Be nice.", effective_at=None)
    async with acting(runtime, ada) as ctx:
        assert await services.current(ctx, "terms") is None


async def test_a_published_version_is_current_and_audited(runtime: Runtime) -> None:
    published = await publish(runtime, "privacy", "1")
    assert published.published_by == await owner_id(runtime)
    async with acting(runtime) as ctx:
        current = await services.current(ctx, "privacy")
        assert current is not None and current.id == published.id
        assert await services.current(ctx, "terms") is None
        assert [v.id for v in await services.current_all(ctx)] == [published.id]
    [event] = await events(runtime, "privacy.policy.published")
    assert (event.target_type, event.target_id) == ("policy", str(published.id))
    assert '"version":"1"' in event.data.replace(" ", "") and '"kind":"privacy"' in event.data.replace(" ", "")


async def test_a_version_number_is_unique_per_kind(runtime: Runtime) -> None:
    await publish(runtime, "privacy", "2")
    with pytest.raises(Conflict) as caught:
        await publish(runtime, "privacy", "2")
    assert "Version 2 of the privacy policy already exists" in caught.value.detail
    assert caught.value.fields == {"version": "This version number is taken."}
    await publish(runtime, "terms", "2")  # the other kind may use the number


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "cookies"}, "kind"),
        ({"version": ""}, "version"),
        ({"version": "1 beta"}, "version"),
        ({"version": "x" * 33}, "version"),
        ({"title": "  "}, "title"),
        ({"body": " \n"}, "body"),
        ({"body": "x" * (services.MAX_BODY + 1)}, "body"),
        ({"effective_at": datetime(2030, 1, 1)}, "effective_at"),
        ({"effective_at": datetime.now(UTC) - timedelta(minutes=5)}, "effective_at"),
    ],
)
async def test_bad_input_is_refused_with_the_field(runtime: Runtime, changes: dict[str, object], field: str) -> None:
    values: dict[str, object] = {
        "kind": "terms",
        "version": "1",
        "title": "Terms",
        "body": "Text",
        "effective_at": None,
    }
    values.update(changes)
    async with acting(runtime, await owner_id(runtime), manager=True) as ctx:
        with pytest.raises(Invalid) as caught:
            await services.publish(ctx, **values)  # type: ignore[arg-type]
    assert field in caught.value.fields
    async with acting(runtime) as ctx:
        assert (await services.list_versions(ctx)).total == 0


async def test_a_date_within_the_last_minute_counts_as_now(runtime: Runtime) -> None:
    published = await publish(runtime, "terms", "1", effective_at=datetime.now(UTC) - timedelta(seconds=20))
    async with acting(runtime) as ctx:
        assert (await services.current(ctx, "terms")).id == published.id  # type: ignore[union-attr]


async def test_versions_take_effect_in_publishing_order(runtime: Runtime) -> None:
    later = datetime.now(UTC) + timedelta(days=7)
    await publish(runtime, "terms", "2", effective_at=later)
    with pytest.raises(Invalid) as caught:
        await publish(runtime, "terms", "3")
    assert "Version 2 takes effect on" in caught.value.detail
    await publish(runtime, "terms", "3", effective_at=later + timedelta(days=1))


async def test_current_and_pending_follow_the_clock(runtime: Runtime) -> None:
    ada = await make_user(runtime, "ada@example.com")
    now = datetime.now(UTC)
    v1 = await publish(runtime, "privacy", "1")
    terms = await publish(runtime, "terms", "1")
    v2 = await publish(runtime, "privacy", "2", effective_at=now + timedelta(days=3))
    async with acting(runtime, ada) as ctx:
        assert {v.id for v in await services.pending_for(ctx, ada)} == {v1.id, terms.id}
        assert await services.next_change(ctx) == v2.effective_at
        await services.accept(ctx, ada, [v1.id, terms.id], "page")
        assert await services.pending_for(ctx, ada) == []
        # Scheduled versions cannot be accepted before they take effect.
        with pytest.raises(Conflict):
            await services.accept(ctx, ada, [v2.id], "page")
        later = replace(ctx, clock=MovableClock(timedelta(days=4)))
        assert (await services.current(later, "privacy")).id == v2.id  # type: ignore[union-attr]
        assert [v.id for v in await services.pending_for(later, ada)] == [v2.id]
        assert await services.next_change(later) is None
        # The superseded version cannot be accepted any more.
        with pytest.raises(Conflict) as caught:
            await services.accept(later, ada, [v1.id], "api")
        assert "Version 1 of the privacy policy is not the current one" in caught.value.detail
        assert [v.id for v in await services.accept(later, ada, [v2.id], "api")] == [v2.id]
        assert await services.pending_for(later, ada) == []


async def test_accepting_is_idempotent_and_audited_once(runtime: Runtime) -> None:
    ada = await make_user(runtime, "ada@example.com")
    terms = await publish(runtime, "terms", "1")
    async with acting(runtime, ada) as ctx:
        assert [v.id for v in await services.accept(ctx, ada, [terms.id, terms.id], "page")] == [terms.id]
    async with acting(runtime, ada) as ctx:
        assert await services.accept(ctx, ada, [terms.id], "api") == []
        [(acceptance, version)] = await services.acceptances(ctx, ada)
    assert (acceptance.source, version.id) == ("page", terms.id)
    [event] = await events(runtime, "privacy.policy.accepted")
    assert (event.actor_id, event.target_id) == (str(ada), str(terms.id))


async def test_accepting_refuses_unknown_or_no_ids(runtime: Runtime) -> None:
    ada = await make_user(runtime, "ada@example.com")
    await publish(runtime, "terms", "1")
    async with acting(runtime, ada) as ctx:
        with pytest.raises(Invalid):
            await services.accept(ctx, ada, [], "page")
        with pytest.raises(Invalid) as caught:
            await services.accept(ctx, ada, [uuid.uuid4()], "page")
        assert "policy_ids" in caught.value.fields
        with pytest.raises(ValueError, match="unknown acceptance source"):
            await services.accept(ctx, ada, [uuid.uuid4()], "fax")
    with pytest.raises(Invalid):
        services.parse_ids(["not-an-id"])
    one = uuid.uuid4()
    assert services.parse_ids([str(one), one, f" {one} "]) == [one]
    async with runtime.backends.db.transaction() as session:
        assert (await session.scalars(select(PolicyAcceptance))).all() == []


async def test_versions_are_listed_newest_first_and_scheduled_ones_only_to_managers(runtime: Runtime) -> None:
    ada = await make_user(runtime, "ada@example.com")
    for number in range(1, 4):
        await publish(runtime, "privacy", str(number))
    scheduled = await publish(runtime, "privacy", "4", effective_at=datetime.now(UTC) + timedelta(days=1))
    async with acting(runtime, await owner_id(runtime), manager=True) as ctx:
        first = await services.list_versions(ctx, kind="privacy", per_page=3)
        second = await services.list_versions(ctx, kind="privacy", page=2, per_page=3)
        assert await services.get_version(ctx, "privacy", "4") is not None
    assert [v.version for v in first.items] == ["4", "3", "2"]
    assert [v.version for v in second.items] == ["1"]
    assert (first.total, first.pages) == (4, 2)
    async with acting(runtime, ada) as ctx:
        public = await services.list_versions(ctx)
        assert await services.get_version(ctx, "privacy", "4") is None
        assert await services.get_version(ctx, "privacy", "9") is None
        assert (await services.get_version(ctx, "privacy", "2")) is not None
    assert scheduled.id not in {v.id for v in public.items} and public.total == 3
    assert services.label_of("terms") == "Terms of service" and services.label_of("other") == "other"
