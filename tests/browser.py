"""Headless Debian Chromium driven by Playwright (no browser download needed)."""

from __future__ import annotations

import contextlib

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]


@contextlib.contextmanager
def chromium():
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def login(page, base_url: str, user: str, password: str):
    page.goto(f"{base_url}hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", password)
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_load_state("networkidle")


def signup(page, base_url: str, user: str, password: str):
    """Fill in the sign-up form (the account then waits for an admin's approval)."""
    page.goto(f"{base_url}hub/signup")
    page.fill("#username_input", user)
    page.fill("#password_input", password)
    page.fill("#password_confirmation_input", password)
    with page.expect_navigation():
        page.click("#signup_submit")


def approve(admin_page, base_url: str, user: str):
    """An admin approves a sign-up on the hub's authorization page."""
    admin_page.goto(f"{base_url}hub/authorize")
    admin_page.click(f"a[href$='authorize/{user}']")
    admin_page.wait_for_load_state("networkidle")
