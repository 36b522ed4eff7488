"""The file manager in a real browser against ``fastapp serve``: a member uploads two files with
the picker (each with a progress bar that reaches done, a refused one with the server's reason),
previews the image, renames, deletes and restores a file; an administrator sees it in
``/admin/files``. Every page passes the axe scan and fits a 360 px screen."""

from __future__ import annotations

import io
import subprocess
import sys
from typing import Any

import pytest
from PIL import Image

from tests.accounts.conftest import STRONG
from tests.e2e.conftest import Server, Watched, assert_clean, assert_fits, axe_violations, create_admin

pytestmark = pytest.mark.e2e

OWNER = "files-owner@example.com"
MEMBER = "files-member@example.com"
WAIT_S = 30  # a ceiling against hanging, not a measurement
# Finite animations (a toast popping in) done: axe would judge colours half-way through a fade.


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (30, 120, 200)).save(out, "PNG")
    return out.getvalue()


def _sign_in(page: Any, server: Server, email: str) -> None:
    page.goto(server.url + "/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(STRONG)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/account/security")


def _row(page: Any, name: str) -> Any:
    return page.locator("#file-results tr", has_text=name)


def test_a_member_uploads_previews_renames_deletes_and_restores(server: Server, watched: Watched, browser: Any) -> None:
    create_admin(server, OWNER, STRONG)
    create_admin(server, MEMBER, STRONG)
    subprocess.run(
        [sys.executable, "-m", "fastapp", "users", "set-role", MEMBER, "member"],
        env=server.env,
        check=True,
        capture_output=True,
    )
    page: Any = watched.page
    _sign_in(page, server, MEMBER)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Files", exact=True).click()
    page.wait_for_url("**/files")
    page.get_by_text("No files yet").wait_for()
    assert_clean(watched)

    # The picker is a labelled file input: two files at once, one progress bar each.
    page.get_by_label("Choose files to upload").set_input_files(
        [
            {"name": "sky.png", "mimeType": "image/png", "buffer": _png()},
            {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"remember the milk\n"},
        ]
    )
    uploads = page.locator("[data-upload-item]")
    page.locator("[data-upload-item][data-state=done]").nth(1).wait_for()
    assert uploads.count() == 2
    for n in range(2):
        bar = uploads.nth(n).get_by_role("progressbar")
        assert bar.get_attribute("aria-label") in {"Uploading sky.png", "Uploading notes.txt"}
        assert bar.evaluate("bar => bar.value") == 100
        assert uploads.nth(n).get_by_text("Uploaded").count() == 1
    # The list reloads by itself with both files and the quota bar counts them.
    _row(page, "sky.png").wait_for()
    _row(page, "notes.txt").wait_for()
    page.get_by_text("2 of 1000 files").wait_for()

    # A refused file says why, from the API's problem detail.
    page.get_by_label("Choose files to upload").set_input_files(
        [{"name": "page.txt", "mimeType": "text/plain", "buffer": b"<script>alert(1)</script>"}]
    )
    refused = page.locator("[data-upload-item][data-state=error]")
    refused.wait_for()
    assert "markup" in refused.get_by_role("alert").inner_text()
    # The browser logs the refused request itself; nothing else may be logged.
    assert [e for e in watched.console_errors if "422" not in e] == []
    watched.console_errors.clear()
    assert_clean(watched)

    # Dropping a file on the zone uploads it the same way.
    page.evaluate(
        """() => {
            const files = new DataTransfer();
            files.items.add(new File(["dropped in\\n"], "dropped.txt", {type: "text/plain"}));
            const zone = document.querySelector("[data-drop-zone]");
            zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: files, bubbles: true, cancelable: true}));
            zone.dispatchEvent(new DragEvent("drop", {dataTransfer: files, bubbles: true, cancelable: true}));
        }"""
    )
    _row(page, "dropped.txt").wait_for()
    page.get_by_text("3 of 1000 files").wait_for()

    # Preview: the image shows inline (it loaded: it has a width).
    sky = _row(page, "sky.png")
    sky.get_by_text("Preview").click()
    preview = sky.get_by_role("img", name="Preview of sky.png")
    preview.wait_for()
    page.wait_for_function("img => img.complete && img.naturalWidth === 40", arg=preview.element_handle())

    # Rename inline, from the keyboard.
    notes = _row(page, "notes.txt")
    notes.locator("summary", has_text="Rename").focus()
    page.keyboard.press("Enter")
    field = notes.get_by_label("New name")
    field.fill("groceries")
    field.press("Enter")
    page.locator("#toasts").get_by_text("Renamed.").wait_for()
    _row(page, "groceries.txt").wait_for()
    assert _row(page, "notes.txt").count() == 0

    # Delete (confirmed), then restore from Recently deleted.
    page.once("dialog", lambda dialog: dialog.accept())
    _row(page, "groceries.txt").get_by_role("button", name="Delete groceries.txt").click()
    page.locator("#toasts").get_by_text("Moved to Recently deleted.").wait_for()
    _row(page, "groceries.txt").wait_for(state="detached")
    page.get_by_role("link", name="Recently deleted").click()
    page.wait_for_url("**/files?view=deleted")
    _row(page, "groceries.txt").wait_for()
    assert_clean(watched)
    page.get_by_role("button", name="Restore groceries.txt").click()
    page.locator("#toasts").get_by_text("Restored.").wait_for()
    page.get_by_text("Nothing deleted").wait_for()
    page.get_by_role("link", name="My files").click()
    _row(page, "groceries.txt").wait_for()

    page.set_viewport_size({"width": 360, "height": 740})
    for path in ("/files", "/files?view=deleted"):
        page.goto(server.url + path)
        assert_fits(page)
        assert_clean(watched)

    # The administrator's view of it.
    admin_context = browser.new_context(viewport={"width": 1280, "height": 900})
    admin = admin_context.new_page()
    admin.set_default_timeout(10_000)
    try:
        _sign_in(admin, server, OWNER)
        admin.get_by_role("navigation", name="Main").get_by_role("link", name="Files (admin)").click()
        admin.wait_for_url("**/admin/files")
        admin.get_by_text("groceries.txt").wait_for()
        assert admin.get_by_text(MEMBER).count() >= 1
        assert axe_violations(admin) == []
        for path in ("/admin/files/usage", "/admin/files/quarantine"):
            admin.goto(server.url + path)
            assert axe_violations(admin) == []
        admin.set_viewport_size({"width": 360, "height": 740})
        for path in ("/admin/files", "/admin/files/usage", "/admin/files/quarantine"):
            admin.goto(server.url + path)
            assert_fits(admin)
    finally:
        admin_context.close()
