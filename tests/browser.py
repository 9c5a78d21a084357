"""A page opened in Debian's chromium, headless (tests import it by name, as ``promtool``).

``make setup`` installs chromium where it can (root with apt-get). Missing, the tests that need
it are skipped on a developer's machine and fail under CI (``CI=true``), as promtool's do.
The browser runs with a profile of its own in a temporary folder and without any of its
background traffic (no network is needed: the pages are files)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from promtool import tool

INSTALL_HINT = "install Debian's chromium package: apt-get install -y chromium"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars")


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run chromium headless with its profile in ``profile``; ``args``: e.g. ``--dump-dom``
    and a ``file://`` address."""
    return subprocess.run([tool("chromium", INSTALL_HINT), *FLAGS,
                           f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)


def rendered(page: Path, profile: Path, fragment: str = "") -> str:
    """The DOM of ``page`` after its scripts ran (``--dump-dom``), opened at ``#fragment``."""
    url = page.resolve().as_uri() + (f"#{fragment}" if fragment else "")
    done = chromium(profile, "--dump-dom", url)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def screenshot(page: Path, png: Path, profile: Path, size: str = "1200,1400") -> Path:
    """A PNG of ``page`` at ``size`` (width,height in pixels)."""
    done = chromium(profile, f"--screenshot={png.resolve()}", f"--window-size={size}",
                    page.resolve().as_uri())
    assert done.returncode == 0 and png.is_file(), done.stderr[-2000:]
    return png
