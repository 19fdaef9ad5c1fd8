"""Regenerate the README's screenshots (docs/screens/*.png) by running the browser tests
with their screenshots pointed there: `.venv/bin/python -m tests.browser.screens`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"


def main() -> int:
    os.environ["HOOKKIT_SCREENS_DIR"] = str(SCREENS)
    return int(pytest.main([str(Path(__file__).with_name("test_screens.py")), "-q"]))


if __name__ == "__main__":
    sys.exit(main())
