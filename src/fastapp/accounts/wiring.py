"""How the accounts domain finds its collaborators in the running app.

Process-wide objects (link signer, JWT keys, settings) are built once per app and kept in
``runtime.services``; services are made per request around that request's ``Context``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from starlette.types import Scope

from fastapp.accounts.local_cache import MISSING, LocalPrincipals
from fastapp.accounts.mfa import TwoFactorService
from fastapp.accounts.pats import PersonalTokenService, is_personal_token
from fastapp.accounts.services import AccountService
from fastapp.accounts.sessions import SessionService, cached_principal
from fastapp.accounts.tokens import AccessTokens, EmailLinks
from fastapp.config import AuthSettings
from fastapp.platform.auth import Authenticate
from fastapp.platform.context import Context, Principal, Runtime, open_context
from fastapp.platform.scope import bearer_token, cookie, state

KEY = "accounts"


@dataclass(frozen=True)
class AccountsKit:
    settings: AuthSettings
    links: EmailLinks
    access_tokens: AccessTokens
    site_url: str
    cookie_name: str
    secure_cookies: bool
    local: LocalPrincipals


def kit(runtime: Runtime) -> AccountsKit:
    found: AccountsKit | None = runtime.services.get(KEY)
    if found is None:
        config = runtime.config
        secret = config.app.secret_key.get_secret_value()
        found = AccountsKit(
            settings=config.auth,
            links=EmailLinks(secret),
            access_tokens=AccessTokens(
                [secret], lifetime=timedelta(minutes=config.auth.access_token_minutes), issuer=config.app.site_url
            ),
            site_url=config.app.site_url,
            cookie_name="__Host-fastapp_session" if config.app.is_https else "fastapp_session",
            secure_cookies=config.app.is_https,
            local=LocalPrincipals(),
        )
        runtime.services[KEY] = found
    return found


def accounts(runtime: Runtime, ctx: Context) -> AccountService:
    k = kit(runtime)
    return AccountService(
        ctx=ctx,
        settings=k.settings,
        links=k.links,
        site_url=k.site_url,
        limits=runtime.backends.limits,
        cache=runtime.backends.cache,
        local=k.local,
    )


def two_factor(runtime: Runtime, ctx: Context) -> TwoFactorService:
    return TwoFactorService(accounts=accounts(runtime, ctx), issuer=runtime.config.app.name)


def personal_tokens(runtime: Runtime, ctx: Context) -> PersonalTokenService:
    return PersonalTokenService(ctx=ctx, cache=runtime.backends.cache)


def sessions(runtime: Runtime, ctx: Context) -> SessionService:
    k = kit(runtime)
    return SessionService(
        ctx=ctx, settings=k.settings, cache=runtime.backends.cache, access_tokens=k.access_tokens, local=k.local
    )


def authenticator(runtime: Runtime) -> Authenticate:
    """Resolve the principal of a request: a Bearer access token, else the session cookie.

    A live session's principal is usually in the cache, so most requests touch no database.
    """

    async def authenticate(scope: Scope) -> Principal | None:
        k = kit(runtime)
        bearer = bearer_token(scope)
        token = bearer if bearer is not None else cookie(scope, k.cookie_name)
        if token is None:
            return None
        backends = runtime.backends
        principal: Principal | None
        request_id = str(state(scope).get("request_id", ""))
        if bearer is not None and is_personal_token(bearer):
            async with open_context(runtime, request_id=request_id, ip=None) as ctx:
                return await personal_tokens(runtime, ctx).authenticate(bearer)
        if bearer is not None:
            claims = k.access_tokens.read(token, now=backends.clock.now())
            if claims is None:
                return None
            found = k.local.get(claims.session_id)
            local_hit = found is not MISSING
            if found is MISSING:
                found = await cached_principal(backends.cache, claims.session_id, backends.clock.now())
            if found is MISSING:  # only now a database look-up
                async with open_context(runtime, request_id=request_id, ip=None) as ctx:
                    found = await sessions(runtime, ctx).principal(claims.session_id)
            principal = found if isinstance(found, Principal) else None
            if principal is None or principal.user_id != claims.user_id:
                return None
            if not local_hit:
                k.local.put(claims.session_id, principal)
            return replace(principal, via="bearer", authenticated_at=claims.auth_time)
        async with open_context(runtime, request_id=request_id, ip=None) as ctx:
            principal = await sessions(runtime, ctx).resolve_cookie(token)
        return principal

    return authenticate


async def listen_for_invalidations(runtime: Runtime) -> None:
    """Background task: keep this process's local principal copies in step with every other's."""
    await kit(runtime).local.listen(runtime.backends.cache)
