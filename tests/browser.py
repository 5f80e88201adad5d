"""Browser fixtures, a plugin of tests/conftest.py: the real app under `streamlit run` (it can be killed and
restarted), driven by Playwright in Debian's Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppServer:
    """The app under `streamlit run`, as `make run` serves it; it can be killed and started again."""

    def __init__(self, home: Path, log_path: Path):
        self.home, self.log_path, self.port = home, log_path, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> str:
        env = {**os.environ, "WORKBENCH_HOME": str(self.home), "OLLAMA_HOST": "http://127.0.0.1:9"}
        log = open(self.log_path, "a")  # noqa: SIM115 - the server holds it; closed with the process
        command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.address", "127.0.0.1"]
        command += ["--server.port", str(self.port), "--server.headless", "true", "--browser.gatherUsageStats", "false"]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/_stcore/health", timeout=1).status_code == 200:
                    return self.url
            except httpx.HTTPError:
                time.sleep(0.3)
        pytest.fail(f"streamlit did not start: {self.log_path.read_text()}")

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would end it: no clean-up code of its own runs."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=20)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


@pytest.fixture
def app_server(workbench_home, tmp_path):
    server = AppServer(workbench_home, tmp_path / "streamlit.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def app_url(app_server):
    return app_server.url


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, under Playwright: one for the whole suite (each test opens contexts of its
    own, so no cookie or session crosses tests)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium).")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)  # reruns take seconds on a loaded 2-core machine; 5 s is too tight

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def new_session(browser):
    """A page in a context of its own: to the app, another browser tab's session."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(30_000)
    return page


@pytest.fixture
def browser_page(browser):
    page = new_session(browser)
    yield page
    page.context.close()


def turn_off_auto_evaluate(page) -> None:
    """Untick the Train page's "Auto evaluate" box and check it stays so (a click during a rerun on a loaded
    machine was once lost)."""
    from playwright.sync_api import expect

    auto_evaluate = page.get_by_role("checkbox", name="Auto evaluate")
    for _ in range(3):
        if not auto_evaluate.is_checked():
            break
        page.get_by_text("Auto evaluate").click()
        page.wait_for_timeout(1500)
    expect(auto_evaluate).not_to_be_checked()


_PAGE_STATE = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return [app && app.getAttribute("data-test-script-state"),
            document.querySelectorAll('[data-stale="true"]').length,
            document.body.innerText];
}"""


def settled(page, quiet_ms: int = 400, timeout_s: float = 30.0):
    """The page once Streamlit's reruns are over and nothing has changed for `quiet_ms`.

    One look is not enough: between a run and the rerun it asks for, the app reads "notRunning" with no stale
    elements, and an element that moved can show twice for a few milliseconds after (seen on a loaded
    machine: "Unsaved changes" twice, 10 ms). For pages that do not redraw by themselves (no live fragments).
    """
    page.wait_for_timeout(100)  # the click's rerun may not have reached the server yet
    deadline = time.monotonic() + timeout_s
    last, since = None, time.monotonic()
    while True:
        state = page.evaluate(_PAGE_STATE)
        now = time.monotonic()
        if state != last or state[0] != "notRunning" or state[1]:
            last, since = state, now
        elif now - since >= quiet_ms / 1000:
            return page
        if now > deadline:
            raise AssertionError(f"the app did not settle in {timeout_s:.0f} s: script {state[0]}, {state[1]} stale")
        page.wait_for_timeout(25)
