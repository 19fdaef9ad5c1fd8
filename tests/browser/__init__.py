"""The webhooks screens in real Chromium (Debian's, driven by Playwright for Python)."""
