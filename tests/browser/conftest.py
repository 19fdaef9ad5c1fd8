"""Fixtures of the browser tests: one headless Chromium per module, a page per test (saved
as a screenshot when a test names one), and helpers to sign in.

Chromium is Debian's `/usr/bin/chromium` (scripts/_browser.sh installs it); Playwright's
own browser downloads are never used. Screenshots go to HOOKKIT_SCREENS_DIR when set (the
`python -m tests.browser.screens` script points it at docs/screens/), else to a temporary
folder of the test run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole module."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed (scripts/test installs it: scripts/_browser.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def screens_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("HOOKKIT_SCREENS_DIR")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screens")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) and page, 1280 px wide."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    opened = context.new_page()
    yield opened
    context.close()
