"""Policy texts are Markdown rendered safely: raw HTML is text, only http(s), mailto and
same-site links keep their target, no images."""

from __future__ import annotations

import pytest

from fastapp.privacy.policies.markdown import render_markdown, safe_link


def test_raw_html_comes_out_as_text() -> None:
    html = render_markdown('<script>alert(1)</script>\n\n<img src=x onerror="alert(1)">\n\nHi <b onclick=x>there</b>')
    assert "<script" not in html and "<img" not in html and "<b" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html


@pytest.mark.parametrize(
    "link",
    [
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](&#106;avascript:alert(1))",
        "[x](  javascript:alert(1))",
        "[x](vbscript:msgbox(1))",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        "<javascript:alert(1)>",
        "[x][r]\n\n[r]: javascript:alert(1)",
    ],
)
def test_dangerous_links_come_out_inert(link: str) -> None:
    html = render_markdown(link)
    assert "href" not in html
    assert "<a" not in html


@pytest.mark.parametrize(
    ("source", "href"),
    [
        ("[a](https://example.com/x)", "https://example.com/x"),
        ("[a](http://example.com)", "http://example.com"),
        ("[a](mailto:dpo@example.com)", "mailto:dpo@example.com"),
        ("[a](/policies/terms)", "/policies/terms"),
        ("[a](#cookies)", "#cookies"),
        ("[a](terms/2)", "terms/2"),
    ],
)
def test_safe_links_keep_their_target(source: str, href: str) -> None:
    html = render_markdown(source)
    assert f'href="{href}"' in html
    assert 'rel="noopener noreferrer"' in html


def test_protocol_relative_and_images_are_not_linked() -> None:
    assert not safe_link("//evil.example/x")
    html = render_markdown("![tracker](https://evil.example/pixel.png)")
    assert "<img" not in html


def test_headings_move_one_level_down_and_get_classes() -> None:
    html = render_markdown("# Privacy\n\n## Cookies\n\n###### Small\n\n- one\n\nText.")
    assert html.startswith("<h2 class=")
    assert "<h3 class=" in html and "</h3>" in html
    assert "<h6>Small</h6>" in html and "<h7" not in html
    assert '<ul class="' in html and '<p class="' in html
