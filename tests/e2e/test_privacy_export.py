"""The data export journey in a real browser against ``fastapp serve``: a user opens the privacy
page, requests a copy of their data (confirming their password if asked), watches the progress
until the in-process worker has built it, downloads the ZIP and finds their data in it. The
page passes the axe scan and fits a 360 px screen."""

from __future__ import annotations

import json
import re
import zipfile
from typing import Any

import pytest

from tests.accounts.conftest import STRONG
from tests.e2e.conftest import Server, Watched, assert_clean, assert_fits, create_admin

pytestmark = pytest.mark.e2e

EMAIL = "export-user@example.com"
WAIT_MS = 60_000  # a ceiling against hanging, not a measurement


def _sign_in(page: Any, server: Server, email: str) -> None:
    page.goto(server.url + "/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(STRONG)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/account/security")


def test_request_an_export_and_download_it(server: Server, watched: Watched, browser: Any) -> None:
    create_admin(server, EMAIL, STRONG)
    page: Any = watched.page
    _sign_in(page, server, EMAIL)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Privacy", exact=True).click()
    page.wait_for_url("**/privacy")
    section = page.locator("#data-export")
    section.get_by_text("You have not requested an export yet.").wait_for()
    assert_clean(watched)

    section.get_by_role("button", name="Request my data").click()
    if "/account/confirm-password" in page.url:  # an older sign-in confirms the password first
        page.get_by_label("Password", exact=True).fill(STRONG)
        page.get_by_role("button", name="Confirm").click()
        page.wait_for_url("**/privacy*")
        page.locator("#data-export").get_by_role("button", name="Request my data").click()
    # The panel polls itself while the worker builds the ZIP, then offers the download.
    download_link = page.get_by_role("link", name=re.compile("Download your data"))
    download_link.wait_for(timeout=WAIT_MS)
    page.get_by_text("The link works until").wait_for()
    assert page.locator("#export-panel[hx-trigger]").count() == 0  # polling has stopped
    assert_clean(watched)
    page.set_viewport_size({"width": 360, "height": 740})
    assert_fits(page)
    page.set_viewport_size({"width": 1280, "height": 900})

    with page.expect_download() as started:
        download_link.click()
    download = started.value
    assert re.fullmatch(r"[a-z0-9-]+-data-\d{4}-\d{2}-\d{2}\.zip", download.suggested_filename)
    with zipfile.ZipFile(download.path()) as archive:
        names = set(archive.namelist())
        assert {"README.md", "accounts.json"} <= names
        assert EMAIL in archive.read("accounts.json").decode("utf-8")
        for name in names - {"README.md"}:
            if name.endswith(".json") and "/" not in name:
                json.loads(archive.read(name).decode("utf-8"))  # every domain's file is JSON
