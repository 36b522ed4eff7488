"""Policy texts from Markdown to safe HTML.

Administrators write the policies, but a policy page is shown to every visitor, so the text is
treated as untrusted: raw HTML is escaped (markdown-it's ``html`` option off), images are not
rendered (the strict CSP would block other origins anyway, and a policy needs none), and a link
keeps its target only when it is ``http(s):``, ``mailto:`` or a path on this site; anything else
(``javascript:``, ``data:``, ``vbscript:``...) stays as plain text. Headings move one level down
because the page already has its ``<h1>``. Classes come from MonsterUI's Markdown map, so the
text looks like the rest of the UI without a typography stylesheet.
"""

from __future__ import annotations

from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.token import Token
from monsterui.franken import franken_class_map

_SCHEMES = ("http://", "https://", "mailto:")
#: The block and inline tags markdown-it emits, with the class each gets.
_CLASSES = {tag: classes for tag, classes in franken_class_map.items() if " " not in tag and tag != "img"}


def safe_link(url: str) -> bool:
    """True for ``http(s):``/``mailto:`` URLs and for paths, fragments and queries on this site."""
    value = url.strip().lower()
    if value.startswith(_SCHEMES):
        return True
    # A relative reference has no scheme: no ":" before the first "/", "?" or "#" (RFC 3986 4.2).
    head = value.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return ":" not in head and not value.startswith("//")


def _decorate(tokens: list[Token]) -> None:
    for token in tokens:
        if token.nesting == 1:
            if token.tag.startswith("h") and token.tag[1:].isdigit():
                token.tag = f"h{min(6, int(token.tag[1:]) + 1)}"
            classes = _CLASSES.get(token.tag)
            if classes:
                token.attrSet("class", classes)
            if token.tag == "a":
                token.attrSet("rel", "noopener noreferrer")
        elif token.type == "heading_close":
            token.tag = f"h{min(6, int(token.tag[1:]) + 1)}"
        if token.children:
            _decorate(token.children)


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.disable("image")
    md.validateLink = safe_link  # type: ignore[method-assign]
    return md


def render_markdown(source: str) -> str:
    """The HTML of ``source``: safe to insert into a page as it is."""
    md = _parser()
    tokens = md.parse(source)
    _decorate(tokens)
    html: str = md.renderer.render(tokens, md.options, {})
    return html
