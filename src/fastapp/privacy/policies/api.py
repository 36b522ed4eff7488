"""``/api/v1/policies`` (the versions in force, public) and ``/api/v1/me/policies`` (what the
user accepted and what awaits acceptance; accepting): the same services as the pages."""

from __future__ import annotations

from fastapi import APIRouter

from fastapp.api.deps import ContextDep, PrincipalDep, RuntimeDep
from fastapp.privacy.policies import services
from fastapp.privacy.policies.schemas import AcceptanceOut, AcceptIn, MyPoliciesOut, PolicyOut

router = APIRouter(tags=["privacy"])


@router.get("/policies", response_model=list[PolicyOut])
async def current_policies(ctx: ContextDep, runtime: RuntimeDep) -> list[PolicyOut]:
    """The version in force of the privacy policy and of the terms (those published)."""
    site = runtime.config.app.site_url
    return [PolicyOut.of(v, site) for v in await services.current_all(ctx)]


@router.get("/me/policies", response_model=MyPoliciesOut)
async def my_policies(principal: PrincipalDep, ctx: ContextDep, runtime: RuntimeDep) -> MyPoliciesOut:
    """The versions the user accepted and the current ones still to accept."""
    site = runtime.config.app.site_url
    accepted = await services.acceptances(ctx, principal.user_id)
    pending = await services.pending_for(ctx, principal.user_id)
    return MyPoliciesOut(
        accepted=[AcceptanceOut.of(a, v, site) for a, v in accepted],
        pending=[PolicyOut.of(v, site) for v in pending],
    )


@router.post(
    "/me/policies/accept",
    response_model=MyPoliciesOut,
    responses={409: {"description": "A version is not the current one"}, 422: {"description": "Unknown id"}},
)
async def accept_policies(
    body: AcceptIn, principal: PrincipalDep, ctx: ContextDep, runtime: RuntimeDep
) -> MyPoliciesOut:
    """Accept current versions (idempotent). 409 ``conflict`` when one is superseded or not yet
    in force, 422 for an unknown id."""
    await services.accept(ctx, principal.user_id, body.policy_ids, "api")
    return await my_policies(principal, ctx, runtime)
