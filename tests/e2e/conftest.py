"""End-to-end fixtures: the real ``fastapp serve`` process and headless Chromium (Playwright)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import IN_CI

CHROMIUM = os.environ.get("FASTAPP_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[str]
    log: Path
    started_in: float
    #: The server's environment, for running ``fastapp`` commands against the same instance.
    env: dict[str, str]


@contextmanager
def serve(folder: Path, **settings: str) -> Iterator[Server]:
    """``fastapp serve`` on the embedded default in ``folder``, with extra ``FASTAPP_*`` settings;
    stopped (SIGTERM) when the block ends."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FASTAPP_")}
    env.update(
        FASTAPP_VAR_DIR=str(folder / "var"), FASTAPP_SITE_URL=f"http://127.0.0.1:{port}", FASTAPP_LOG_LEVEL="WARNING"
    )
    env.update(settings)
    log = folder / "server.log"
    started = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "fastapp", "serve", "--port", str(port)],
            env=env,
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"fastapp serve did not start:\n{log.read_text()}")
        time.sleep(0.1)
    try:
        yield Server(url, process, log, time.perf_counter() - started, env)
    finally:
        process.terminate()
        # Browsers may still hold event streams open: the server ends them and stops on its own.
        process.wait(timeout=20)


def create_admin(server: Server, email: str, password: str) -> None:
    """``fastapp users create-admin`` against ``server``'s instance, as an operator runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "fastapp", "users", "create-admin", "--email", email, "--password-stdin"],
        input=password + "\n",
        text=True,
        env=server.env,
        capture_output=True,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``fastapp serve`` on the embedded default, exactly as a new user starts it."""
    with serve(tmp_path_factory.mktemp("e2e")) as running:
        yield running


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if IN_CI:
            raise RuntimeError(f"{CHROMIUM} is missing: CI installs Debian's chromium")
        pytest.skip(f"end-to-end tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


# Records CSP violations from inside the page; init scripts run through the DevTools protocol,
# outside the page's CSP.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(
  e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sample || '')));
"""


@dataclass
class Watched:
    page: Any
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def csp_violations(self) -> list[str]:
        return list(self.page.evaluate("window.__csp || []"))


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.add_init_script(RECORD_VIOLATIONS)
    page.set_default_timeout(10_000)
    state = Watched(page)
    page.on("console", lambda m: state.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: state.console_errors.append(str(e)))
    page.on("request", lambda r: state.requests.append(r.url))
    yield state
    context.close()


def axe_violations(page: Any) -> list[str]:
    """Serious and critical axe-core violations of the page as ``id: help (n nodes)``."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes) {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v.get("impact") in {"serious", "critical"}
    ]


#: True once no finite animation is running (toasts, progress bars): an axe scan mid-fade would
#: see half-transparent text.
ANIMATIONS_DONE = (
    "document.getAnimations().every(a => a.playState !== 'running'"
    " || a.effect.getComputedTiming().iterations === Infinity)"
)


def assert_clean(watched: Watched, *, wait_s: float = 30) -> None:
    """No console error, no CSP violation, and no serious or critical axe finding on the page."""
    deadline = time.monotonic() + wait_s  # polled from here: in-page polling would need eval (CSP)
    while not watched.page.evaluate(ANIMATIONS_DONE) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert watched.console_errors == []
    assert watched.csp_violations() == []
    assert axe_violations(watched.page) == []


def assert_fits(page: Any) -> None:
    """The page does not scroll sideways at its current width (the culprits are named if it does)."""
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth + 1)"
        ".filter(e => !e.closest('.overflow-x-auto') || e.classList.contains('overflow-x-auto'))"
        ".slice(0, 12).map(e => e.tagName + '.' + e.className + '#' + e.id + ' w=' + e.getBoundingClientRect().width)"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px: {wide}"
