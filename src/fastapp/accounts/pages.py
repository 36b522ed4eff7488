"""Sign-up, sign-in and out, email verification, password reset, and the account security page.

Routes are adapters: parse the form, call the accounts services inside one transaction, render.
Every form works without JavaScript (CSRF token in a hidden field).
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

from fasthtml.common import FT, APIRouter, Input, Redirect
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from fastapp.accounts import components as c
from fastapp.accounts import profile_components as pc
from fastapp.accounts import wiring
from fastapp.accounts.mfa import Enrolment
from fastapp.accounts.models import AuthSession, UserStatus
from fastapp.accounts.policy import require_recent_authentication
from fastapp.accounts.profile import reactivation_token
from fastapp.accounts.services import SIGN_IN_FAILED
from fastapp.accounts.web import context_of, csrf_of, runtime_of, signed_in
from fastapp.audit import queries as audit_queries
from fastapp.audit.components import RecentActivity
from fastapp.notifications.pages import settings_page as notification_settings
from fastapp.platform.auth import principal_of
from fastapp.platform.context import Principal, Runtime
from fastapp.platform.errors import Invalid, ReauthenticationRequired
from fastapp.platform.privacy import VISITOR_COOKIE
from fastapp.ui.request import render, render_response, viewer_prefs

rt = APIRouter()
HOME_AFTER_SIGN_IN = "/account/security"


def _safe_next(value: str) -> str:
    """Only a path on this site: never an absolute or protocol-relative URL."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return HOME_AFTER_SIGN_IN


def _set_session_cookie(response: Response, runtime: Runtime, token: str, *, remember: bool) -> None:
    k = wiring.kit(runtime)
    response.set_cookie(
        k.cookie_name,
        token,
        max_age=k.settings.remember_days * 86400 if remember else None,
        path="/",
        secure=k.secure_cookies,
        httponly=True,
        samesite="lax",
    )


# -- sign-up --------------------------------------------------------------------------------


async def _sign_up_fields(runtime: Runtime) -> list[FT]:
    """What the registered sign-up hooks add to the form (accepting the policies)."""
    found: list[FT] = []
    for hook in runtime.registry.sign_up_hooks:
        if hook.fields is not None:
            found.extend(await hook.fields(runtime))
    return found


async def _sign_up_answers(request: Request) -> dict[str, object]:
    """The form's fields for the sign-up hooks (never the password), plus the visitor's id."""
    form = await request.form()
    answers: dict[str, object] = {k: v for k, v in form.items() if k not in {"password", "csrf_token"}}
    answers["visitor_id"] = request.cookies.get(VISITOR_COOKIE)
    return answers


@rt("/sign-up", methods=["get"])
async def sign_up_page(request: Request) -> FT | tuple[FT, ...]:
    extra = await _sign_up_fields(runtime_of(request))
    form = c.SignUpForm(sign_up.to(), csrf_of(request), values={}, errors={}, message=None, extra=extra)
    footer = c.Link("Already have an account? Sign in", sign_in_page.to())
    return render_response(
        request, "Create an account", c.AuthCard("Create an account", "It takes a minute.", form, footer=footer)
    )


@rt("/sign-up", methods=["post"])
async def sign_up(request: Request, email: str = "", password: str = "", display_name: str = "") -> object:
    runtime = runtime_of(request)
    answers = await _sign_up_answers(request)
    try:
        async with context_of(request) as ctx:
            await wiring.accounts(runtime, ctx).register(
                email=email, password=password, display_name=display_name, answers=answers
            )
    except Invalid as exc:
        form = c.SignUpForm(
            sign_up.to(),
            csrf_of(request),
            values={"email": email, "display_name": display_name},
            errors=exc.fields,
            message="Please correct the fields below.",
            extra=await _sign_up_fields(runtime),
        )
        return render_response(
            request, "Create an account", c.AuthCard("Create an account", "It takes a minute.", form), status=422
        )
    # The same answer whether or not the address already had an account.
    return Redirect(check_email.to() + "?sent=verify")


@rt("/check-email", methods=["get"])
async def check_email(request: Request, sent: str = "") -> FT | tuple[FT, ...]:
    text = {
        "verify": "If the address can receive mail, a link to confirm it is on its way. Open it to finish.",
        "reset": "If an account uses that address, a link to choose a new password is on its way.",
    }.get(sent, "Check your inbox for the link we sent.")
    return render(request, "Check your email", c.Notice("Check your email", text))


# -- email verification ---------------------------------------------------------------------


@rt("/verify-email", methods=["get"])
async def verify_email_page(request: Request, token: str = "") -> FT | tuple[FT, ...]:
    # Confirming takes a click (POST): mail scanners that open links must not use them up.
    form = c.ConfirmForm(verify_email.to(), csrf_of(request), token, "Confirm my email address")
    return render(request, "Confirm your email", c.AuthCard("Confirm your email", "One click to finish.", form))


@rt("/verify-email", methods=["post"])
async def verify_email(request: Request, token: str = "") -> object:
    runtime = runtime_of(request)
    try:
        async with context_of(request) as ctx:
            user = await wiring.accounts(runtime, ctx).verify_email(token)
            await wiring.sessions(runtime, ctx).invalidate_user(user.id)
    except Invalid as exc:
        return render_response(
            request,
            "Link not valid",
            c.Notice("Link not valid", exc.detail, c.Link("Sign in to get a new link", sign_in_page.to())),
            status=400,
        )
    return render(
        request,
        "Email confirmed",
        c.Notice("Email confirmed", "Your address is confirmed.", c.Link("Continue", HOME_AFTER_SIGN_IN)),
    )


@rt("/verify-email/pending", methods=["get"])
async def verify_pending(request: Request) -> FT | tuple[FT, ...]:
    signed_in(request)
    form = c.ConfirmForm(resend_verification.to(), csrf_of(request), "", "Send the link again")
    return render(
        request,
        "Confirm your email",
        c.AuthCard(
            "Confirm your email",
            "Open the link we mailed you to start using your account.",
            form,
            footer=c.SignOutForm(sign_out.to(), csrf_of(request)),
        ),
    )


@rt("/verify-email/resend", methods=["post"])
async def resend_verification(request: Request) -> object:
    principal = signed_in(request)
    runtime = runtime_of(request)
    async with context_of(request) as ctx:
        service = wiring.accounts(runtime, ctx)
        await service.resend_verification(await service.get_user(principal.user_id))
    return Redirect(check_email.to() + "?sent=verify")


# -- sign-in and out ------------------------------------------------------------------------


@rt("/sign-in", methods=["get"])
async def sign_in_page(request: Request, next: str = "") -> HTMLResponse:
    return _sign_in_form(request, email="", error=None, next_url=_safe_next(next))


def _sign_in_form(request: Request, *, email: str, error: str | None, next_url: str) -> HTMLResponse:
    form = c.SignInForm(sign_in.to(), csrf_of(request), email=email, error=error, next_url=next_url)
    footer = c.Link("Forgot your password?", forgot_password_page.to())
    return render_response(
        request, "Sign in", c.AuthCard("Sign in", "Welcome back.", form, footer=footer), status=422 if error else 200
    )


@rt("/sign-in", methods=["post"])
async def sign_in(request: Request, email: str = "", password: str = "", remember: str = "", next: str = "") -> object:
    runtime = runtime_of(request)
    try:
        async with context_of(request) as ctx:
            service = wiring.accounts(runtime, ctx)
            user = await service.authenticate(email=email, password=password)
            if user.status == UserStatus.deactivated.value:
                return _reactivation_offer(request, reactivation_token(wiring.kit(runtime).links, user))
            if wiring.two_factor(runtime, ctx).is_on(user):
                pending = service.second_step_token(user)
                return _second_step_form(request, pending, remember=remember, next_url=_safe_next(next))
            if user.status == UserStatus.deletion_requested.value:
                return _cancel_erasure_offer(request, service.erasure_cancel_token(user))
            if (reset := service.required_reset_token(user)) is not None:  # an administrator asked for it
                return Redirect(f"{reset_password_page.to()}?token={reset}").__response__(request)
            _, token = await service.start_session(
                user, wiring.sessions(runtime, ctx), kind="browser", remember=remember == "1"
            )
            verified = user.email_verified_at is not None
            theme = user.theme
    except Invalid:
        return _sign_in_form(request, email=email, error=SIGN_IN_FAILED, next_url=_safe_next(next))
    response = signed_in_response(
        request, runtime, token, remember=remember == "1", target=_safe_next(next) if verified else verify_pending.to()
    )
    if theme != "system":  # the saved preference follows the user to this browser
        pc.set_theme_cookie(request, response, theme)
    return response


def _reactivation_offer(request: Request, token: str) -> HTMLResponse:
    """A deactivated account whose password was right: offer to bring it back."""
    form = pc.ReactivationOffer(pc.REACTIVATE_PATH, csrf_of(request), token)
    return render_response(
        request, "Reactivate your account", c.AuthCard("Welcome back", "Your account is deactivated.", form)
    )


def _cancel_erasure_offer(request: Request, token: str) -> HTMLResponse:
    """An account awaiting erasure whose owner just proved who they are (password, and second
    factor when on): offer to cancel the deletion, which the privacy domain handles."""
    action = runtime_of(request).registry.cancel_erasure_path
    return render_response(
        request,
        "Cancel the deletion of your account",
        c.AuthCard(
            "Welcome back",
            "Your account is scheduled for deletion.",
            c.CancelErasureOffer(action, csrf_of(request), token),
        ),
    )


def signed_in_response(request: Request, runtime: Runtime, token: str, *, remember: bool, target: str) -> Response:
    """A redirect to ``target`` that sets the new session's cookie (also after cancelling an erasure)."""
    response: Response = Redirect(target).__response__(request)
    _set_session_cookie(response, runtime, token, remember=remember)
    return response


def _second_step_form(
    request: Request, pending: str, *, remember: str, next_url: str, error: str | None = None
) -> HTMLResponse:
    form = c.SecondFactorForm(second_factor.to(), csrf_of(request), pending, error=error)
    form.children = (
        *form.children,
        Input(type="hidden", name="remember", value=remember),
        Input(type="hidden", name="next", value=next_url),
    )
    return render_response(
        request,
        "Two-factor sign-in",
        c.AuthCard("Two-factor sign-in", "Enter the code from your authenticator app.", form),
        status=422 if error else 200,
    )


@rt("/sign-in/second-factor", methods=["post"])
async def second_factor(
    request: Request, pending: str = "", code: str = "", remember: str = "", next: str = ""
) -> object:
    runtime = runtime_of(request)
    try:
        async with context_of(request) as ctx:
            service = wiring.accounts(runtime, ctx)
            user = await service.user_from_second_step(pending)
            await wiring.two_factor(runtime, ctx).verify(user, code)
            if user.status == UserStatus.deletion_requested.value:
                return _cancel_erasure_offer(request, service.erasure_cancel_token(user))
            if (reset := service.required_reset_token(user)) is not None:  # an administrator asked for it
                return Redirect(f"{reset_password_page.to()}?token={reset}").__response__(request)
            _, token = await service.start_session(
                user, wiring.sessions(runtime, ctx), kind="browser", remember=remember == "1"
            )
    except Invalid as exc:
        return _second_step_form(
            request, pending, remember=remember, next_url=_safe_next(next), error=exc.fields.get("code", exc.detail)
        )
    return signed_in_response(request, runtime, token, remember=remember == "1", target=_safe_next(next))


@rt("/sign-out", methods=["post"])
async def sign_out(request: Request) -> object:
    principal = principal_of(request.scope)
    runtime = runtime_of(request)
    if principal is not None and principal.via == "cookie":
        async with context_of(request) as ctx:
            await wiring.sessions(runtime, ctx).sign_out(principal.user_id, principal.session_id)
    response = Redirect("/").__response__(request)
    response.delete_cookie(
        wiring.kit(runtime).cookie_name,
        path="/",
        secure=wiring.kit(runtime).secure_cookies,
        httponly=True,
        samesite="lax",
    )
    return response


# -- passwords ------------------------------------------------------------------------------


@rt("/password/forgot", methods=["get"])
async def forgot_password_page(request: Request) -> FT | tuple[FT, ...]:
    form = c.EmailForm(forgot_password.to(), csrf_of(request), "Send reset link")
    return render_response(
        request,
        "Reset your password",
        c.AuthCard("Reset your password", "We will mail you a link to choose a new one.", form),
    )


@rt("/password/forgot", methods=["post"])
async def forgot_password(request: Request, email: str = "") -> object:
    runtime = runtime_of(request)
    async with context_of(request) as ctx:
        await wiring.accounts(runtime, ctx).request_password_reset(email)
    return Redirect(check_email.to() + "?sent=reset")


@rt("/password/reset", methods=["get"])
async def reset_password_page(request: Request, token: str = "") -> FT | tuple[FT, ...]:
    form = c.NewPasswordForm(reset_password.to(), csrf_of(request), token)
    return render(request, "Choose a new password", c.AuthCard("Choose a new password", "", form))


@rt("/password/reset", methods=["post"])
async def reset_password(request: Request, token: str = "", password: str = "") -> object:
    runtime = runtime_of(request)
    try:
        async with context_of(request) as ctx:
            user = await wiring.accounts(runtime, ctx).reset_password(token, password)
            await wiring.sessions(runtime, ctx).end_all(user.id, reason="password reset")
    except Invalid as exc:
        form = c.NewPasswordForm(
            reset_password.to(), csrf_of(request), token, error=exc.fields.get("password", exc.detail)
        )
        return render_response(
            request, "Choose a new password", c.AuthCard("Choose a new password", "", form), status=422
        )
    return render(
        request,
        "Password changed",
        c.Notice(
            "Password changed",
            "Sign in with your new password. Every other session has been ended.",
            c.Link("Sign in", sign_in_page.to()),
        ),
    )


# -- account security -----------------------------------------------------------------------


async def _security_page(
    request: Request, principal: Principal, errors: dict[str, str], *, status: int = 200
) -> HTMLResponse:
    runtime = runtime_of(request)
    csrf = csrf_of(request)
    async with context_of(request) as ctx:
        user = await wiring.accounts(runtime, ctx).get_user(principal.user_id)
        sessions: list[AuthSession] = await wiring.sessions(runtime, ctx).active(principal.user_id)
        tokens = await wiring.personal_tokens(runtime, ctx).active(principal.user_id)
        activity = [audit_queries.event_record(e) for e in await audit_queries.for_user(ctx.session, principal.user_id)]
        mfa = wiring.two_factor(runtime, ctx)
        two_factor = c.TwoFactorCard(
            on=mfa.is_on(user),
            remaining=await mfa.remaining_recovery_codes(user),
            begin_action=begin_two_factor.to(),
            disable_action=disable_two_factor.to(),
            csrf=csrf,
            errors=errors,
        )
    prefs = await viewer_prefs(request)
    rows = [
        c.SessionRow(
            s,
            current=s.id == principal.session_id,
            end_url=end_session.to(session_id=str(s.id)),
            csrf=csrf,
            prefs=prefs,
        )
        for s in sessions
    ]
    return render_response(
        request,
        "Account security",
        c.SecurityPage(
            user.display_name,
            c.SessionsCard(rows, end_other_sessions.to(), csrf),
            two_factor,
            c.ChangePasswordForm(change_password.to(), csrf, errors),
            c.ChangeEmailCard(change_email.to(), csrf, user.email, error=errors.get("email")),
            c.TokensCard(
                tokens,
                permissions=sorted(principal.permissions),
                create_action=create_token.to(),
                revoke_url=lambda token_id: revoke_token.to(token_id=token_id),
                csrf=csrf,
                errors=errors,
            ),
            c.SignOutForm(sign_out.to(), csrf),
            RecentActivity(activity, prefs=prefs),
            notifications_url=notification_settings.to(),
        ),
        status=status,
    )


@rt("/account/security", methods=["get"])
async def security(request: Request) -> object:
    principal = signed_in(request)
    if not principal.verified:
        return Redirect(verify_pending.to())
    return await _security_page(request, principal, {})


@rt("/account/sessions/{session_id}/end", methods=["post"])
async def end_session(request: Request, session_id: str) -> object:
    principal = signed_in(request)
    runtime = runtime_of(request)
    async with context_of(request) as ctx:
        await wiring.sessions(runtime, ctx).end(principal.user_id, _uuid(session_id))
    return Redirect(security.to())


@rt("/account/sessions/end-others", methods=["post"])
async def end_other_sessions(request: Request) -> object:
    principal = signed_in(request)
    runtime = runtime_of(request)
    async with context_of(request) as ctx:
        await wiring.sessions(runtime, ctx).end_all(principal.user_id, except_session=principal.session_id)
    return Redirect(security.to())


@rt("/account/password", methods=["post"])
async def change_password(request: Request, current_password: str = "", new_password: str = "") -> object:
    principal = signed_in(request)
    runtime = runtime_of(request)
    try:
        async with context_of(request) as ctx:
            service = wiring.accounts(runtime, ctx)
            await service.change_password(
                await service.get_user(principal.user_id), current=current_password, new=new_password
            )
            sessions = wiring.sessions(runtime, ctx)
            await sessions.end_all(principal.user_id, except_session=principal.session_id, reason="password changed")
            await sessions.rotate_csrf(principal.session_id)
    except Invalid as exc:
        return await _security_page(request, principal, exc.fields, status=422)
    return Redirect(security.to())


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise Invalid("No such session.") from exc


def sign_in_url(next_path: str) -> str:
    return f"{sign_in_page.to()}?next={quote(next_path)}"


# -- re-authentication and two-factor set-up ------------------------------------------------


def _unless_recent(request: Request, principal: Principal) -> Response | None:
    """A redirect to the password confirmation (back to the security page) when the sign-in is
    older than the sudo window; None when the sensitive action may go ahead."""
    runtime = runtime_of(request)
    try:
        require_recent_authentication(
            principal, now=runtime.backends.clock.now(), minutes=wiring.kit(runtime).settings.sudo_minutes
        )
    except ReauthenticationRequired:
        response: Response = Redirect(f"{confirm_password_page.to()}?next={quote(security.to())}").__response__(request)
        return response
    return None


@rt("/account/confirm-password", methods=["get"])
async def confirm_password_page(request: Request, next: str = "") -> HTMLResponse:
    signed_in(request)
    form = c.PasswordConfirmForm(confirm_password.to(), csrf_of(request), _safe_next(next))
    return render_response(
        request,
        "Confirm your password",
        c.AuthCard("Confirm your password", "For your security, confirm your password to continue.", form),
    )


@rt("/account/confirm-password", methods=["post"])
async def confirm_password(request: Request, password: str = "", next: str = "") -> object:
    principal = signed_in(request)
    runtime = runtime_of(request)
    try:
        async with context_of(request) as ctx:
            service = wiring.accounts(runtime, ctx)
            user = await service.get_user(principal.user_id)
            await service.authenticate(email=user.email, password=password)
            await wiring.sessions(runtime, ctx).reauthenticated(principal.session_id)
    except Invalid:
        form = c.PasswordConfirmForm(
            confirm_password.to(), csrf_of(request), _safe_next(next), error="The password is not correct."
        )
        return render_response(
            request,
            "Confirm your password",
            c.AuthCard("Confirm your password", "For your security, confirm your password to continue.", form),
            status=422,
        )
    return Redirect(_safe_next(next))


@rt("/account/two-factor/begin", methods=["post"])
async def begin_two_factor(request: Request) -> object:
    principal = signed_in(request)
    if (reauthenticate := _unless_recent(request, principal)) is not None:
        return reauthenticate
    runtime = runtime_of(request)
    async with context_of(request) as ctx:
        mfa = wiring.two_factor(runtime, ctx)
        enrolment = await mfa.begin(await wiring.accounts(runtime, ctx).get_user(principal.user_id))
    return _enrol_page(request, enrolment)


def _enrol_page(request: Request, enrolment: Enrolment, *, error: str | None = None) -> HTMLResponse:
    card = c.EnrolCard(enrolment.qr_svg, enrolment.secret, confirm_two_factor.to(), csrf_of(request), error=error)
    subtitle = "Use an app such as Aegis, Google Authenticator or 1Password."
    return render_response(
        request,
        "Set up two-factor sign-in",
        c.AuthCard("Two-factor sign-in", subtitle, card),
        status=422 if error else 200,
    )


@rt("/account/two-factor/confirm", methods=["post"])
async def confirm_two_factor(request: Request, code: str = "") -> object:
    principal = signed_in(request)
    runtime = runtime_of(request)
    try:
        async with context_of(request) as ctx:
            user = await wiring.accounts(runtime, ctx).get_user(principal.user_id)
            codes = await wiring.two_factor(runtime, ctx).confirm(user, code)
    except Invalid as exc:
        async with context_of(request) as ctx:
            mfa = wiring.two_factor(runtime, ctx)
            user = await wiring.accounts(runtime, ctx).get_user(principal.user_id)
            if user.totp_pending is None:
                return Redirect(security.to())
            enrolment = mfa.enrolment(user, user.totp_pending)
        return _enrol_page(request, enrolment, error=exc.fields.get("code", exc.detail))
    return render_response(
        request, "Recovery codes", c.AuthCard("Recovery codes", "Two-factor sign-in is on.", c.RecoveryCodesCard(codes))
    )


@rt("/account/two-factor/disable", methods=["post"])
async def disable_two_factor(request: Request, password: str = "", code: str = "") -> object:
    principal = signed_in(request)
    runtime = runtime_of(request)
    try:
        async with context_of(request) as ctx:
            user = await wiring.accounts(runtime, ctx).get_user(principal.user_id)
            await wiring.two_factor(runtime, ctx).disable(user, password=password, code=code)
    except Invalid as exc:
        return await _security_page(request, principal, exc.fields or {"code": exc.detail}, status=422)
    return Redirect(security.to())


@rt("/account/email", methods=["post"])
async def change_email(request: Request, email: str = "") -> object:
    """Mail a confirmation link to a new address (needs a recent password confirmation)."""
    principal = signed_in(request)
    if (reauthenticate := _unless_recent(request, principal)) is not None:
        return reauthenticate
    runtime = runtime_of(request)
    try:
        async with context_of(request) as ctx:
            service = wiring.accounts(runtime, ctx)
            await service.request_email_change(await service.get_user(principal.user_id), email)
    except Invalid as exc:
        return await _security_page(request, principal, exc.fields or {"email": exc.detail}, status=422)
    return render(
        request,
        "Check your email",
        c.Notice(
            "Check your email",
            "A confirmation link is on its way to the new address. Your address changes when you open it.",
            c.Link("Back to account security", security.to()),
        ),
    )


@rt("/account/tokens", methods=["post"])
async def create_token(request: Request) -> object:
    """A personal access token, shown once (needs a recent password confirmation)."""
    principal = signed_in(request)
    if (reauthenticate := _unless_recent(request, principal)) is not None:
        return reauthenticate
    form = await request.form()
    name = str(form.get("name", ""))
    try:
        days = int(str(form.get("expires_in_days", "90")) or 90)
    except ValueError:
        days = 0  # refused below with a message
    runtime = runtime_of(request)
    try:
        async with context_of(request) as ctx:
            row, secret = await wiring.personal_tokens(runtime, ctx).create(
                principal, name=name, scopes=[str(v) for v in form.getlist("scopes")], expires_in_days=days
            )
    except Invalid as exc:
        return await _security_page(request, principal, exc.fields or {"name": exc.detail}, status=422)
    return render_response(request, "Token created", c.AuthCard("API token", "", c.NewTokenCard(row.name, secret)))


@rt("/account/tokens/{token_id}/revoke", methods=["post"])
async def revoke_token(request: Request, token_id: str) -> object:
    principal = signed_in(request)
    runtime = runtime_of(request)
    async with context_of(request) as ctx:
        await wiring.personal_tokens(runtime, ctx).revoke(principal.user_id, _uuid(token_id))
    return Redirect(security.to())
