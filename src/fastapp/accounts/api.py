"""JSON routes of the accounts domain under /api/v1: the same services as the pages."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status

from fastapp.accounts import wiring
from fastapp.accounts.models import PersonalAccessToken
from fastapp.accounts.policy import require, require_recent_authentication
from fastapp.accounts.schemas import (
    AcceptedOut,
    EmailChangeIn,
    MeOut,
    PasswordChangeIn,
    PasswordResetConfirmIn,
    PasswordResetIn,
    PersonalTokenCreatedOut,
    PersonalTokenOut,
    RefreshIn,
    RegisterIn,
    RoleAssignmentIn,
    RoleIn,
    RoleOut,
    SessionOut,
    TokenCreateIn,
    TokenIn,
    TokenOut,
    VerifyEmailIn,
)
from fastapp.accounts.services import role_permissions_of
from fastapp.api.deps import ContextDep, PrincipalDep, RuntimeDep, VerifiedPrincipalDep
from fastapp.api.errors import problem
from fastapp.platform.errors import Invalid, PermissionDenied, Unauthenticated
from fastapp.platform.privacy import VISITOR_COOKIE

router = APIRouter(tags=["auth"])
me_router = APIRouter(prefix="/me", tags=["me"])


@router.post("/auth/register", status_code=status.HTTP_202_ACCEPTED, response_model=AcceptedOut)
async def register(body: RegisterIn, request: Request, ctx: ContextDep, runtime: RuntimeDep) -> AcceptedOut:
    """Create an account; a verification link is mailed. The answer is the same for a taken address.
    Once policy versions are published, ``accept_policies`` must list the ones in force."""
    answers = {**body.model_dump(exclude={"password"}), "visitor_id": request.cookies.get(VISITOR_COOKIE)}
    await wiring.accounts(runtime, ctx).register(
        email=body.email, password=body.password, display_name=body.display_name, answers=answers
    )
    return AcceptedOut(detail="If the address can receive mail, a verification link is on its way.")


@router.post("/auth/verify-email", response_model=AcceptedOut)
async def verify_email(body: VerifyEmailIn, ctx: ContextDep, runtime: RuntimeDep) -> AcceptedOut:
    user = await wiring.accounts(runtime, ctx).verify_email(body.token)
    await wiring.sessions(runtime, ctx).invalidate_user(user.id)
    return AcceptedOut(detail="The email address is verified.")


@router.post("/auth/password-reset", status_code=status.HTTP_202_ACCEPTED, response_model=AcceptedOut)
async def password_reset(body: PasswordResetIn, ctx: ContextDep, runtime: RuntimeDep) -> AcceptedOut:
    await wiring.accounts(runtime, ctx).request_password_reset(body.email)
    return AcceptedOut(detail="If an account uses that address, a reset link is on its way.")


@router.post("/auth/password-reset/confirm", response_model=AcceptedOut)
async def password_reset_confirm(body: PasswordResetConfirmIn, ctx: ContextDep, runtime: RuntimeDep) -> AcceptedOut:
    user = await wiring.accounts(runtime, ctx).reset_password(body.token, body.password)
    await wiring.sessions(runtime, ctx).end_all(user.id, reason="password reset")
    return AcceptedOut(detail="The password is changed and every session has been ended.")


async def _token_input(request: Request) -> TokenIn:
    """JSON ``{"email", "password", "otp"}``, or the OAuth2 password form (Swagger UI's Authorize)."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded") or content_type.startswith("multipart/"):
        form = await request.form()
        return TokenIn(email=str(form.get("username", "")), password=str(form.get("password", "")))
    try:
        return TokenIn.model_validate_json(await request.body())
    except ValueError as exc:
        raise Invalid("Send JSON with email and password, or the OAuth2 password form.") from exc


@router.post(
    "/auth/token",
    response_model=TokenOut,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": TokenIn.model_json_schema()},
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["username", "password"],
                        "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
                    }
                },
            }
        }
    },
)
async def token(request: Request, ctx: ContextDep, runtime: RuntimeDep) -> TokenOut:
    """Exchange email and password for an access token (15 minutes) and a refresh token."""
    data = await _token_input(request)
    await runtime.backends.limits["token.ip"].hit(ctx.ip or "unknown")
    service = wiring.accounts(runtime, ctx)
    try:
        user = await service.authenticate(email=data.email, password=data.password)
    except Invalid as exc:
        raise Unauthenticated(exc.detail) from exc
    if user.email_verified_at is None:
        raise PermissionDenied("Verify your email address first: open the link we mailed you.")
    mfa = wiring.two_factor(runtime, ctx)
    if mfa.is_on(user):
        if not data.otp:
            raise Unauthenticated("Two-factor sign-in is on: send the code from your app as otp.", otp_required=True)
        try:
            await mfa.verify(user, data.otp)
        except Invalid as exc:
            raise Unauthenticated(exc.detail, otp_required=True) from exc
    if user.password_reset_required:  # an administrator asked for a new password (issue #7)
        raise PermissionDenied("Choose a new password first: sign in on the website, which asks for one.")
    sessions = wiring.sessions(runtime, ctx)
    session, _ = await service.start_session(user, sessions, kind="api")
    pair = await sessions.issue_tokens(session)
    return TokenOut(access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in)


@router.post("/auth/refresh", response_model=TokenOut)
async def refresh(request: Request, body: RefreshIn, ctx: ContextDep, runtime: RuntimeDep) -> TokenOut | Response:
    """Spend a refresh token for a new pair. Reusing a spent one ends its whole session."""
    await runtime.backends.limits["token.ip"].hit(ctx.ip or "unknown")
    pair = await wiring.sessions(runtime, ctx).refresh(body.refresh_token)
    if pair is None:  # answered, not raised: the revocation must commit
        return problem(
            401,
            "refresh-token-reused",
            "Refresh token reused",
            "This refresh token was already used, so the session has been ended. Sign in again.",
            instance=request.url.path,
        )
    return TokenOut(access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in)


@router.post("/auth/revoke", status_code=status.HTTP_204_NO_CONTENT)
async def revoke(body: RefreshIn, ctx: ContextDep, runtime: RuntimeDep) -> Response:
    """End the session of a refresh token (API sign-out)."""
    await wiring.sessions(runtime, ctx).revoke_refresh(body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@me_router.get("", response_model=MeOut)
async def me(principal: PrincipalDep) -> MeOut:
    """Who the token belongs to. Answered from the session cache: no database round trip."""
    return MeOut(
        id=principal.user_id,
        email=principal.email,
        display_name=principal.display_name,
        email_verified=principal.verified,
        permissions=sorted(principal.permissions),
    )


@me_router.get("/sessions", response_model=list[SessionOut])
async def my_sessions(principal: PrincipalDep, ctx: ContextDep, runtime: RuntimeDep) -> list[SessionOut]:
    rows = await wiring.sessions(runtime, ctx).active(principal.user_id)
    return [
        SessionOut(
            id=s.id,
            device=s.device,
            kind=s.kind,
            ip=s.ip,
            created_at=s.created_at,
            last_seen_at=s.last_seen_at,
            current=s.id == principal.session_id,
        )
        for s in rows
    ]


@me_router.delete("/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def end_session(session_id: uuid.UUID, principal: PrincipalDep, ctx: ContextDep, runtime: RuntimeDep) -> Response:
    await wiring.sessions(runtime, ctx).end(principal.user_id, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@me_router.post("/password", response_model=AcceptedOut)
async def change_password(
    body: PasswordChangeIn, principal: VerifiedPrincipalDep, ctx: ContextDep, runtime: RuntimeDep
) -> AcceptedOut:
    service = wiring.accounts(runtime, ctx)
    await service.change_password(
        await service.get_user(principal.user_id), current=body.current_password, new=body.new_password
    )
    await wiring.sessions(runtime, ctx).end_all(
        principal.user_id, except_session=principal.session_id, reason="password changed"
    )
    return AcceptedOut(detail="The password is changed; other sessions have been ended.")


@me_router.post("/email", status_code=status.HTTP_202_ACCEPTED, response_model=AcceptedOut)
async def change_email(
    body: EmailChangeIn, principal: VerifiedPrincipalDep, ctx: ContextDep, runtime: RuntimeDep
) -> AcceptedOut:
    """Mail a confirmation link to the new address (needs a sign-in within the last minutes)."""
    require_recent_authentication(principal, now=ctx.clock.now(), minutes=wiring.kit(runtime).settings.sudo_minutes)
    service = wiring.accounts(runtime, ctx)
    await service.request_email_change(await service.get_user(principal.user_id), body.email)
    return AcceptedOut(detail="A confirmation link is on its way to the new address.")


def _token_out(row: PersonalAccessToken) -> PersonalTokenOut:
    return PersonalTokenOut(
        id=row.id,
        name=row.name,
        scopes=row.scopes.split(),
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
    )


@me_router.get("/tokens", response_model=list[PersonalTokenOut])
async def my_tokens(principal: VerifiedPrincipalDep, ctx: ContextDep, runtime: RuntimeDep) -> list[PersonalTokenOut]:
    return [_token_out(row) for row in await wiring.personal_tokens(runtime, ctx).active(principal.user_id)]


@me_router.post("/tokens", status_code=status.HTTP_201_CREATED, response_model=PersonalTokenCreatedOut)
async def create_token(
    body: TokenCreateIn, principal: VerifiedPrincipalDep, ctx: ContextDep, runtime: RuntimeDep
) -> PersonalTokenCreatedOut:
    """A personal access token for scripts (needs a sign-in within the last minutes)."""
    require_recent_authentication(principal, now=ctx.clock.now(), minutes=wiring.kit(runtime).settings.sudo_minutes)
    row, secret = await wiring.personal_tokens(runtime, ctx).create(
        principal, name=body.name, scopes=body.scopes, expires_in_days=body.expires_in_days
    )
    return PersonalTokenCreatedOut(**_token_out(row).model_dump(), token=secret)


@me_router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_token(token_id: uuid.UUID, principal: PrincipalDep, ctx: ContextDep, runtime: RuntimeDep) -> Response:
    await wiring.personal_tokens(runtime, ctx).revoke(principal.user_id, token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


roles_router = APIRouter(tags=["roles"])


@roles_router.get("/roles", response_model=list[RoleOut])
async def list_roles(principal: VerifiedPrincipalDep, ctx: ContextDep, runtime: RuntimeDep) -> list[RoleOut]:
    require(principal, "roles:manage")
    return [
        RoleOut(name=role.name, description=role.description, built_in=role.built_in, permissions=sorted(perms))
        for role, perms in await wiring.accounts(runtime, ctx).list_roles()
    ]


@roles_router.post("/roles", status_code=status.HTTP_201_CREATED, response_model=RoleOut)
async def create_role(body: RoleIn, principal: VerifiedPrincipalDep, ctx: ContextDep, runtime: RuntimeDep) -> RoleOut:
    """A custom role; it extends ``parent`` and may hold only permissions you hold."""
    require(principal, "roles:manage")
    service = wiring.accounts(runtime, ctx)
    role = await service.create_role(
        name=body.name,
        description=body.description,
        parent=body.parent,
        permissions=set(body.permissions),
        granter=principal.permissions,
    )
    perms = await role_permissions_of(ctx, role.id)
    return RoleOut(name=role.name, description=role.description, built_in=False, permissions=sorted(perms))


@roles_router.put("/users/{user_id}/role", response_model=AcceptedOut)
async def assign_role(
    user_id: uuid.UUID, body: RoleAssignmentIn, principal: VerifiedPrincipalDep, ctx: ContextDep, runtime: RuntimeDep
) -> AcceptedOut:
    """Give a user exactly one role; applies on their next request. The last owner stays owner."""
    require(principal, "roles:manage")
    service = wiring.accounts(runtime, ctx)
    await service.set_role(await service.get_user(user_id), body.role, granter=principal.permissions)
    return AcceptedOut(detail=f"The user now has the role {body.role}.")
