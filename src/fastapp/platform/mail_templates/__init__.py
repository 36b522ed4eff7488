"""Mail templates: Jinja2 pairs ``<name>.txt`` / ``<name>.html`` in this folder, and their renderer.

Every mail has a text part (always, for clients and readers that want it) and an HTML part built on
one plain layout. The layout keeps its rules in one ``<style>`` block that rendering inlines into
style attributes (``css_inline``) and then drops: mail clients ignore ``<style>`` and the dev
viewer's CSP refuses it. No images, fonts or CSS come from any URL, so a mail renders the same
offline, in the dev viewer and in mail clients that block remote content. The templates here are
the notices the identity domain sends; an application adds or overrides templates by passing its
own folders in ``search_path``. ``fastapp.platform.mail`` re-exports ``MailTemplates``; this
package imports nothing from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from jinja2 import Environment

TEMPLATE_DIR = Path(__file__).parent


class RenderedMail(NamedTuple):
    """A mail's subject (one line), text part and HTML part."""

    subject: str
    text: str
    html: str


def _utc(value: datetime | str) -> str:
    if isinstance(value, str):  # a queued mail's context went through JSON
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        raise ValueError("mail templates need aware datetimes")
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _url(value: str) -> str:
    """Only absolute http(s) links reach a mail: never ``javascript:`` or a relative path."""
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError("a link in a mail must be an absolute http(s) URL")
    return value


class MailTemplates:
    """Renders mails from Jinja2 template pairs ``<name>.txt`` and ``<name>.html``.

    Convention: ``<name>.txt`` extends ``base.txt`` and defines ``{% block subject %}`` (one line,
    whitespace collapsed) and ``{% block body %}``; ``<name>.html`` extends ``base.html`` and
    defines ``{% block body %}`` (and optionally ``heading``, which defaults to the subject). Both
    see the caller's context plus ``subject``, ``product``, ``site_url`` and ``footer``; an optional
    ``unsubscribe_url`` adds an unsubscribe line to the footer of both parts. HTML is autoescaped,
    text is not; an undefined variable raises ``jinja2.UndefinedError``. Filters: ``utc`` formats
    an aware datetime, ``url`` admits only absolute http(s) links. Folders in ``search_path`` come
    before the built-in one, so an application can override or add templates. The HTML part comes
    back with its CSS inlined and no ``<style>`` or ``<link>`` element left; stylesheets are never
    fetched.
    """

    def __init__(
        self, *, product: str, site_url: str, footer: str | None = None, search_path: Sequence[Path] = ()
    ) -> None:
        from css_inline import CSSInliner
        from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

        self.site_url = site_url.rstrip("/")
        self._folders = [*search_path, TEMPLATE_DIR]
        self.env: Environment = Environment(
            loader=FileSystemLoader(self._folders),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        # Never fetch a stylesheet: a template's <link> to a URL is dropped, not followed.
        self._inliner = CSSInliner(load_remote_stylesheets=False, keep_style_tags=False, keep_link_tags=False)
        self.env.filters.update(utc=_utc, url=_url)
        self.env.globals.update(
            product=product,
            site_url=self.site_url,
            footer=footer or f"This automated message was sent by {product} ({self.site_url}). Replies are not read.",
        )

    def names(self) -> list[str]:
        """Every template that has both parts, sorted."""
        found = {
            p.stem for folder in self._folders for p in folder.glob("*.txt") if (folder / f"{p.stem}.html").is_file()
        }
        return sorted(found - {"base"})

    def render(self, name: str, /, **context: Any) -> RenderedMail:
        """Subject, text and HTML of template ``name``; ``jinja2.TemplateNotFound`` when it has no pair."""
        text_template = self.env.get_template(f"{name}.txt")
        html_template = self.env.get_template(f"{name}.html")
        block = text_template.blocks.get("subject")
        if block is None:
            raise ValueError(f"{name}.txt defines no subject block")
        subject = " ".join("".join(block(text_template.new_context(dict(context)))).split())
        text = text_template.render(context, subject=subject).strip() + "\n"
        html = self._inliner.inline(html_template.render(context, subject=subject))
        return RenderedMail(subject, text, html)
