"""Sign-up asks to accept the policies in force, on the page and in the API, refuses without
it (a taken address the same way), and records the acceptance with the new account."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select

from fastapp.accounts.models import User
from fastapp.config import Config
from fastapp.platform.context import Runtime
from fastapp.platform.errors import Invalid
from fastapp.privacy.models import PolicyAcceptance
from fastapp.privacy.policies import signup
from tests.accounts.conftest import STRONG, as_script, mails_to
from tests.conftest import csrf_token, root_of
from tests.privacy.policies_support import acting, make_user, publish


@pytest.fixture
def runtime(app: object) -> Runtime:
    found: Runtime = root_of(app).state.runtime
    return found


async def acceptances_of(runtime: Runtime, address: str) -> list[tuple[str, str]]:
    async with runtime.backends.db.transaction() as session:
        user_id = await session.scalar(select(User.id).where(User.email == address))
        rows = await session.scalars(select(PolicyAcceptance).where(PolicyAcceptance.user_id == user_id))
        return sorted((str(a.policy_id), a.source) for a in rows)


async def register(client: httpx.AsyncClient, address: str, **extra: object) -> httpx.Response:
    with as_script(client):
        return await client.post(
            "/api/v1/auth/register", json={"email": address, "password": STRONG, "display_name": "Ada", **extra}
        )


async def test_without_versions_nothing_is_asked(runtime: Runtime, client: httpx.AsyncClient) -> None:
    page = await client.get("/sign-up")
    assert "accept_policies" not in page.text
    assert (await register(client, "ada@example.com")).status_code == 202
    assert await acceptances_of(runtime, "ada@example.com") == []


async def test_the_sign_up_page_requires_accepting(runtime: Runtime, client: httpx.AsyncClient) -> None:
    privacy = await publish(runtime, "privacy", "3")
    terms = await publish(runtime, "terms", "2")
    page = await client.get("/sign-up")
    box = re.search(r'<input type="checkbox"[^>]*name="accept_policies"[^>]*>', page.text)
    assert box is not None and "required" in box.group(0)
    value = re.search(r'value="([^"]+)"', box.group(0))
    assert value is not None and value.group(1) == f"{privacy.id},{terms.id}"
    assert 'href="/policies/privacy/3"' in page.text and 'href="/policies/terms/2"' in page.text
    assert "(v3)" in page.text and "(v2)" in page.text
    form = {"csrf_token": await csrf_token(client, "/sign-up"), "email": "ada@example.com", "display_name": "Ada"}

    # Without the box: refused, with the error next to it and the account fields' own errors.
    refused = await client.post("/sign-up", data={**form, "password": "short"})
    assert refused.status_code == 422
    assert signup.REFUSED in refused.text and 'id="field-accept_policies-error"' in refused.text
    assert 'id="field-password-error"' in refused.text
    assert 'name="accept_policies"' in refused.text  # the box is shown again
    async with runtime.backends.db.transaction() as session:
        assert await session.scalar(select(User.id).where(User.email == "ada@example.com")) is None

    done = await client.post("/sign-up", data={**form, "password": STRONG, "accept_policies": value.group(1)})
    assert done.status_code == 303, done.text
    assert await acceptances_of(runtime, "ada@example.com") == sorted(
        [(str(privacy.id), "sign-up"), (str(terms.id), "sign-up")]
    )


async def test_a_version_published_meanwhile_is_shown_again(runtime: Runtime, client: httpx.AsyncClient) -> None:
    old = await publish(runtime, "terms", "1")
    form = {"csrf_token": await csrf_token(client, "/sign-up"), "email": "ada@example.com", "display_name": "Ada"}
    new = await publish(runtime, "terms", "2")
    refused = await client.post("/sign-up", data={**form, "password": STRONG, "accept_policies": str(old.id)})
    assert refused.status_code == 422 and "The policies changed" in refused.text
    assert f'value="{new.id}"' in refused.text


async def test_the_api_requires_the_ids_in_force(runtime: Runtime, client: httpx.AsyncClient, config: Config) -> None:
    privacy = await publish(runtime, "privacy", "1")
    terms = await publish(runtime, "terms", "1")
    missing = await register(client, "ada@example.com")
    assert missing.status_code == 422
    assert missing.json()["errors"] == [{"field": "accept_policies", "message": signup.REFUSED}]
    partial = await register(client, "ada@example.com", accept_policies=[str(privacy.id)])
    assert partial.status_code == 422 and partial.json()["errors"][0]["field"] == "accept_policies"
    malformed = await register(client, "ada@example.com", accept_policies=["nope"])
    assert malformed.status_code == 422
    ok = await register(client, "ada@example.com", accept_policies=[str(privacy.id), str(terms.id)])
    assert ok.status_code == 202, ok.text
    assert {source for _, source in await acceptances_of(runtime, "ada@example.com")} == {"sign-up"}


async def test_a_taken_address_is_refused_the_same_way(
    runtime: Runtime, client: httpx.AsyncClient, config: Config
) -> None:
    await make_user(runtime, "taken@example.com")
    await publish(runtime, "terms", "1")
    before = len(await mails_to(config, "taken@example.com"))
    fresh = await register(client, "new@example.com")
    taken = await register(client, "taken@example.com")
    assert (fresh.status_code, taken.status_code) == (422, 422)
    assert fresh.json()["errors"] == taken.json()["errors"]
    # Refused before anything happened: the owner is not told of a sign-up attempt.
    assert len(await mails_to(config, "taken@example.com")) == before


async def test_the_hook_reads_form_and_api_answers() -> None:
    one = "1d0e5c0e-35a4-4d0b-9a43-57a58e1a6f4a"
    two = "2d0e5c0e-35a4-4d0b-9a43-57a58e1a6f4a"
    assert [str(i) for i in signup._answered({"accept_policies": f"{one},{two}"})] == [one, two]
    assert [str(i) for i in signup._answered({"accept_policies": [one]})] == [one]
    assert signup._answered({}) == [] and signup._answered({"accept_policies": ""}) == []


async def test_check_passes_when_nothing_is_published(runtime: Runtime) -> None:
    async with acting(runtime) as ctx:
        await signup.check(ctx, {})
    assert await signup.fields(runtime) == []


async def test_the_hook_checks_and_records_directly(runtime: Runtime) -> None:
    ada = await make_user(runtime, "ada@example.com")
    old = await publish(runtime, "terms", "1")
    new = await publish(runtime, "terms", "2")
    async with acting(runtime) as ctx:
        for answers, message in (
            ({}, signup.REFUSED),
            ({"accept_policies": "garbage"}, signup.REFUSED),
            ({"accept_policies": str(old.id)}, signup.CHANGED),
        ):
            with pytest.raises(Invalid) as caught:
                await signup.check(ctx, answers)
            assert caught.value.fields == {"accept_policies": message}
        await signup.check(ctx, {"accept_policies": [new.id]})
        await signup.created(ctx, ada, {"accept_policies": [new.id], "email": "ada@example.com"})
    assert await acceptances_of(runtime, "ada@example.com") == [(str(new.id), "sign-up")]
