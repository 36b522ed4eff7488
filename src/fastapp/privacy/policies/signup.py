"""The sign-up hook: when versions are in force, sign-up asks to accept them and records it.

The form's checkbox (and the API's ``accept_policies``) carries the ids of the versions shown,
so an account accepts exactly the texts its owner saw: if a version took effect in between,
sign-up is refused and the form shows the new one. With nothing published, nothing is asked.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from fasthtml.common import FT

from fastapp.platform.context import Context, Runtime, open_context
from fastapp.platform.errors import Invalid
from fastapp.platform.privacy import SignUpHook
from fastapp.privacy.policies import components as c
from fastapp.privacy.policies import services

REFUSED = "Accept the privacy policy and the terms to create an account."
CHANGED = "The policies changed while you were signing up: please review and accept the current versions."


async def fields(runtime: Runtime) -> list[FT]:
    async with open_context(runtime, request_id="sign-up", ip=None) as ctx:
        versions = await services.current_all(ctx)
    return [c.SignUpAcceptField(versions)] if versions else []


def _answered(answers: Mapping[str, Any]) -> list[uuid.UUID]:
    raw = answers.get(c.ACCEPT_FIELD)
    if raw is None or raw == "":
        return []
    values = raw.split(",") if isinstance(raw, str) else raw if isinstance(raw, list | tuple) else [raw]
    try:
        return services.parse_ids(v for v in values if str(v).strip())
    except Invalid:
        raise Invalid(REFUSED, fields={c.ACCEPT_FIELD: REFUSED}) from None


async def check(ctx: Context, answers: Mapping[str, Any]) -> None:
    versions = await services.current_all(ctx)
    if not versions:
        return
    answered = set(_answered(answers))
    if not answered:
        raise Invalid(REFUSED, fields={c.ACCEPT_FIELD: REFUSED})
    if answered != {v.id for v in versions}:
        raise Invalid(CHANGED, fields={c.ACCEPT_FIELD: CHANGED})


async def created(ctx: Context, user_id: uuid.UUID, answers: Mapping[str, Any]) -> None:
    # ``check`` ran in this transaction: the answered ids are exactly the versions in force.
    if await services.current_all(ctx):
        email = answers.get("email")
        await services.accept(
            ctx, user_id, _answered(answers), "sign-up", email=email if isinstance(email, str) else None
        )


HOOK = SignUpHook(fields=fields, check=check, created=created)
