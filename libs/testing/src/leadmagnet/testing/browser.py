"""The browser for page tests: Playwright driving Debian's Chromium (never a downloaded one)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from playwright.async_api import Browser, Page, async_playwright

CHROMIUM = "/usr/bin/chromium"  # Debian's package, installed by scripts/ensure-test-deps.sh


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Headless Chromium for the block."""
    async with async_playwright() as p:
        # --no-sandbox: CI runs as root, where Chromium's own sandbox cannot start.
        b = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield b
        finally:
            await b.close()


def no_dialogs(page: Page) -> list[str]:
    """Any alert/confirm/prompt means injected script ran: record it (and dismiss it)."""
    seen: list[str] = []

    async def on_dialog(dialog: Any) -> None:
        seen.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", on_dialog)
    return seen
