"""The console in a real browser (Debian's Chromium, driven by Playwright), under the server's own headers: a
Content-Security-Policy that lets no script run, so the pages must work as plain forms.

The lab's DPO logs in with password and TOTP, finds the run, reads its plan, signs the approval statement with
their own key (``airlock keys sign``, as on their machine) and submits the signature with their password and a
new code; the run is then approved, by the mandate's controller.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from conftest import IN_CI
from fastapi import FastAPI
from test_procedure import PASSPHRASE, Lab
from test_server import lab_console, signed

from airlock.procedure.lifecycle import State
from airlock.server import create_app

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def browser():  # type: ignore[no-untyped-def]
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: 'make test' installs Debian's chromium (or: apt-get install chromium)"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # No sandbox: the tests may run as root in a container, where Chromium's sandbox cannot start.
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The application on a free loopback port, served by uvicorn on a thread, as `airlock serve` does."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_the_dpo_approves_a_plan_from_the_browser(tmp_path: Path, browser, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    lab = Lab(tmp_path)
    try:
        directory, dpo, run_id = lab_console(lab)
        monkeypatch.setenv("AIRLOCK_KEY_PASSPHRASE", PASSPHRASE)

        with serving(create_app(directory)) as base:
            page = browser.new_page()
            scripts: list[str] = []
            page.on("console", lambda m: scripts.append(m.text))  # a CSP violation would be reported here
            page.goto(f"{base}/login")
            page.fill("input[name=email]", dpo.email)
            page.fill("input[name=password]", dpo.password)
            page.fill("input[name=totp]", dpo.code())
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/console")
            assert "Anne Martin (controller-approver)" in page.inner_text("body")

            page.click(f"a[href='/console/runs/{run_id}']")
            page.wait_for_url(f"{base}/console/runs/{run_id}")
            assert "would leave it" in page.inner_text("body")
            statement = page.inner_text("pre >> nth=0")
            assert statement.startswith(f"airlock plan approval {run_id} ")
            page.fill("input[name=signature]", signed(statement, lab.controller_key))
            page.fill("input[name=password]", dpo.password)
            page.fill("input[name=totp]", dpo.code())
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/console/runs/{run_id}")
            assert "plan_approved" in page.inner_text("dl")
            assert "Dr Anne Martin (controller)" in page.inner_text("body")
            assert not [s for s in scripts if "Content Security Policy" in s]
        assert lab.procedure.store.get(run_id).status == State.PLAN_APPROVED
    finally:
        lab.store.close()
