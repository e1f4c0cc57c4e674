"""Headless Debian Chromium driven by Playwright (no browser download needed)."""

from __future__ import annotations

import contextlib
import time

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


def password(portal, user: str) -> str:
    """The password of `user` on a test portal: the operator's generated one, else one per
    user name, so every test that signs a user in agrees with the others, in any order."""
    return portal.data.admin_password("admin") if user == "admin" else f"{user}-correct-horse-battery"


def signed_in(browser, portal, user: str):
    """A new browser session of `user`; the first time, they sign up and the operator approves.

    The page records Content-Security-Policy violations (`page.csp_errors`) and dismisses
    dialogs, keeping their messages (`page.dialogs`).
    """
    page = browser.new_context().new_page()
    page.csp_errors = []
    page.on("console", lambda m: "Content Security Policy" in m.text and page.csp_errors.append(m.text))
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    login(page, portal.url, user, password(portal, user))
    if "/hub/login" in page.url:
        signup(page, portal.url, user, password(portal, user))
        admin = signed_in(browser, portal, "admin")
        approve(admin, portal.url, user)
        admin.context.close()
        login(page, portal.url, user, password(portal, user))
    assert "/services/portal/" in page.url, page.url
    return page


#: Luminance statistics of the page's noVNC canvas (None before it has a size).
CANVAS_STATS = """() => { const c = document.querySelector('canvas'); if (!c || !c.width) return null;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = d.length / 4, s = 0, s2 = 0; const colors = new Set();
  for (let i = 0; i < d.length; i += 4) { const v = (d[i] + d[i + 1] + d[i + 2]) / 3; s += v; s2 += v * v;
    if (colors.size < 100000) colors.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]); }
  const m = s / n; return {width: c.width, height: c.height, mean: m, std: Math.sqrt(s2 / n - m * m),
                           colors: colors.size}; }"""


def desktop_frame(page, timeout: float = 90) -> dict:
    """Wait until the page's noVNC canvas shows a drawn desktop, not a black or uniform
    frame (mean and spread of luminance above 10, many colours); → its statistics."""
    deadline = time.monotonic() + timeout
    stats = None
    while time.monotonic() < deadline:
        stats = page.evaluate(CANVAS_STATS)
        if stats and stats["mean"] > 10 and stats["std"] > 10 and stats["colors"] > 50:
            return stats
        page.wait_for_timeout(50)
    raise AssertionError(f"no desktop drawn on the canvas in {timeout} s: {stats}")
