"""Browser fixtures: Debian's Chromium driven by Playwright's sync API against pytest-django's
`live_server`.

Chromium comes from Debian (`apt-get install -y chromium`), never from `playwright install`.
Without it the browser tests are skipped locally, but fail when CUSTOS_REQUIRE_BROWSER=1 (CI sets
it), so a CI machine that lost its browser cannot pass silently. A failing test leaves a
full-page screenshot in a temporary folder (or in CUSTOS_SCREENSHOT_DIR) and names it.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import PASSWORD

CHROMIUM = os.environ.get("CUSTOS_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def _unavailable(reason: str) -> None:
    if os.environ.get("CUSTOS_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (CUSTOS_REQUIRE_BROWSER=1: browser tests must run)", pytrace=False)
    pytest.skip(f"{reason}; install it with `apt-get install -y chromium`")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def playwright_browser() -> Iterator[Any]:
    """One Chromium per test module. Inside Playwright's sync API an event loop is running in
    this thread, so Django's ORM needs DJANGO_ALLOW_ASYNC_UNSAFE for the module's duration."""
    executable = shutil.which(CHROMIUM) or (CHROMIUM if Path(CHROMIUM).is_file() else None)
    if executable is None:
        _unavailable(f"Debian's Chromium is not installed ({CHROMIUM} is missing)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is a dev dependency
        _unavailable("the playwright package is not installed")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=LAUNCH_ARGS)
            try:
                yield browser
            finally:
                browser.close()
                # Connections opened while the loop ran must not outlive it, or PostgreSQL
                # refuses to drop the test database at teardown.
                connections.close_all()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    configured = os.environ.get("CUSTOS_SCREENSHOT_DIR")
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return Path(tempfile.mkdtemp(prefix="custos-e2e-"))


@pytest.fixture
def page(
    playwright_browser: Any, live_server: Any, request: pytest.FixtureRequest, screenshot_dir: Path
) -> Iterator[Any]:
    """A fresh browser context (no cookies) in English, 1280x800, with a short default wait."""
    context = playwright_browser.new_context(
        base_url=live_server.url,
        locale="en-US",
        viewport={"width": 1280, "height": 800},
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        yield page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-120:]
            target = screenshot_dir / f"{name}.png"
            try:
                page.screenshot(path=str(target), full_page=True)
                print(f"\nscreenshot of the failing page: {target} (url {page.url})")
            except Exception as exc:  # a screenshot must never hide the failure itself
                print(f"\nno screenshot: {exc}")
        context.close()
        connections.close_all()


def current_totp(device: TOTPDevice) -> str:
    """The code the person's authenticator app shows now, computed from the device's key."""
    device.refresh_from_db()
    value = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    return f"{value:0{device.digits}d}"


@pytest.fixture
def sign_in() -> Callable[..., None]:
    """Sign in through the real pages: email and password, then the TOTP code."""

    def _sign_in(page: Any, *, email: str, device: TOTPDevice, password: str = PASSWORD) -> None:
        page.goto("/accounts/login/")
        login_form = page.locator("main form[action$='/accounts/login/']")
        login_form.get_by_label("Email address").fill(email)
        login_form.get_by_label("Password").fill(password)
        login_form.get_by_role("button", name="Continue").click()
        page.wait_for_url("**/accounts/login/verify/")
        mfa_form = page.locator("main form[action$='/accounts/login/verify/']")
        mfa_form.get_by_label("Verification code").fill(current_totp(device))
        mfa_form.get_by_role("button", name="Verify").click()
        page.wait_for_load_state()

    return _sign_in


@pytest.fixture
def totp_device_for() -> Callable[[Any], TOTPDevice]:
    """A confirmed authenticator with a random key, as enrolment leaves it."""

    def _device(user: Any) -> TOTPDevice:
        return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)

    return _device
