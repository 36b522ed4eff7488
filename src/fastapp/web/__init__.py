"""The page site: one FastHTML app holding every domain's page router and the error pages."""

from __future__ import annotations

from fasthtml.common import FastHTML
from starlette.exceptions import HTTPException

from fastapp.config import Environment
from fastapp.platform.context import Runtime
from fastapp.platform.errors import DomainError
from fastapp.ui.assets import Assets
from fastapp.ui.layout import NavItem
from fastapp.web import dashboard, dev_mail, jobs, pages
from fastapp.web.errors import on_domain_error, on_http_error, on_server_error


def create_pages_app(runtime: Runtime, assets: Assets) -> FastHTML:
    """Build the FastHTML app; CSRF, headers and sessions come from the shared middleware stack."""
    config = runtime.config
    app = FastHTML(
        debug=False,  # tracebacks go to the log, never to the browser
        default_hdrs=False,
        sess_cls=None,
        canonical=False,
        title=config.app.name,
        secret_key=config.app.secret_key.get_secret_value(),
        key_fname=None,
        exception_handlers={
            DomainError: on_domain_error,
            HTTPException: on_http_error,
            404: on_http_error,
            405: on_http_error,
            500: on_server_error,
            Exception: on_server_error,
        },
    )
    app.state.runtime = runtime
    app.state.assets = assets
    app.state.product = config.app.name
    app.state.secure_cookies = config.app.is_https
    app.state.theme_url = pages.set_theme.to()
    app.state.footer_note = f"{config.app.name} · {config.app.env.value} mode"
    app.state.sign_in_path = runtime.registry.sign_in_path
    app.state.account_links = runtime.registry.account_links
    app.state.header_widgets = runtime.registry.header_widgets
    app.state.nav = [
        *(NavItem(*item) for item in runtime.registry.nav_items),
        NavItem("Jobs", jobs.jobs_page.to(), "list-checks", jobs.PERMISSION),
        # The dashboard opens for any admin permission; the menu (one permission an item) shows it
        # to user readers.
        NavItem("Admin", dashboard.PATH, "layout-dashboard", "users:read"),
    ]
    pages.rt.to_app(app)
    jobs.rt.to_app(app)
    dashboard.rt.to_app(app)
    if config.app.env is Environment.development:  # the outbox viewer shows every user's mail
        dev_mail.rt.to_app(app)
    for router in runtime.registry.page_routers:
        router.to_app(app)
    return app
