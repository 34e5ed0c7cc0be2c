"""Shared helpers for browser tests and benches: free port, a Streamlit server, headless Chromium.

Generic on purpose (the app's end-to-end tests reuse it)::

    url, proc = start_streamlit(Path("tests/apps/viewer_demo_app.py"), env={"X": "1"})
    try:
        with launch_browser() as browser:
            page = browser.new_page()
            page.goto(url)
    finally:
        stop_streamlit(proc)

Chromium is Debian's (/usr/bin/chromium, or $LIVSEG_CHROMIUM); Playwright's own browser
download is not used. Nothing here reaches the network.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    """Path of the system Chromium ($LIVSEG_CHROMIUM, /usr/bin/chromium, or on PATH)."""
    env = os.environ.get("LIVSEG_CHROMIUM")
    if env and Path(env).exists():
        return env
    for cand in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if Path(cand).exists():
            return cand
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_health(url: str, proc: subprocess.Popen | None = None, timeout: float = 60.0) -> None:
    """Poll ``url``/_stcore/health until it answers "ok"; raise with the server log if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{out}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"streamlit at {url} not healthy after {timeout:.0f} s")


def start_streamlit(
    script_path: str | Path,
    env: dict[str, str] | None = None,
    *,
    port: int | None = None,
    timeout: float = 60.0,
    extra_args: list[str] | None = None,
) -> tuple[str, subprocess.Popen]:
    """Start ``streamlit run script_path`` headless on 127.0.0.1; return (url, process).

    ``env`` is added to the current environment; the repository root is put on PYTHONPATH
    so the script can import livseg, db and components. Waits for /_stcore/health.
    """
    port = port or free_port()
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO_ROOT), full_env.get("PYTHONPATH", "")) if p
    )
    full_env.update(env or {})
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(script_path),
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        *(extra_args or []),
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd,
        cwd=str(REPO_ROOT),
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(url, proc, timeout)
    except Exception:
        stop_streamlit(proc)
        raise
    return url, proc


def stop_streamlit(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Terminate the server started by ``start_streamlit`` (kill if it does not stop)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)
    if proc.stdout:
        proc.stdout.close()


@contextlib.contextmanager
def launch_browser(headless: bool = True) -> Iterator:
    """Playwright's Chromium (the system binary) as a context manager yielding a Browser."""
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    if exe is None:
        raise RuntimeError("no Chromium found: install Debian's chromium or set LIVSEG_CHROMIUM")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=headless, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def wait_for_app(
    page, timeout_ms: int = 60_000, *, settle_ms: int = 500, skeletons: bool = False
) -> None:
    """Wait until the Streamlit script run of ``page`` has finished (no running indicator),
    then ``settle_ms`` more; with ``skeletons`` also until no loading placeholder is left."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=timeout_ms,
    )
    if skeletons:
        page.wait_for_timeout(300)
        page.wait_for_function(
            "() => !document.querySelector('[data-testid=\"stSkeleton\"]')", timeout=timeout_ms
        )
    if settle_ms:
        page.wait_for_timeout(settle_ms)


# --------------------------------------------------------------- the app (app.py) in a browser


@contextlib.contextmanager
def streamlit_server(
    script_path: str | Path, env: dict[str, str] | None = None, *, timeout: float = 90.0
) -> Iterator[str]:
    """``start_streamlit`` as a context manager yielding the url (the server stops after)."""
    url, proc = start_streamlit(script_path, env, timeout=timeout)
    try:
        yield url
    finally:
        stop_streamlit(proc)


def sign_in(
    page, username: str, password: str, *, own_password: str | None = None, timeout_ms: int = 90_000
) -> None:
    """Sign in on the app's sign-in screen (already shown). If the app then asks for her own
    password (first sign-in with a generated one), ``own_password`` is set as the new one."""
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text(f"Signed in as {username}").first.wait_for(timeout=timeout_ms)
    wait_for_app(page, timeout_ms)
    if own_password and page.get_by_text("Please choose your own password now").count():
        from playwright.sync_api import expect

        # a rerun can briefly show the form twice (the stale copy fades out): wait for one
        expect(page.get_by_label("Current password")).to_have_count(1, timeout=timeout_ms)
        page.get_by_label("Current password").fill(password)
        page.get_by_label("New password", exact=True).fill(own_password)
        page.get_by_label("Repeat the new password").fill(own_password)
        page.get_by_role("button", name="Change password").click()


def collect_ws_frames(page) -> list:
    """Every websocket frame ``page`` receives from now on (a list that keeps growing)."""
    frames: list = []
    # a lambda, not frames.append: Playwright cannot wrap a builtin method as a listener
    page.on("websocket", lambda ws: ws.on("framereceived", lambda frame: frames.append(frame)))
    return frames


def count_ws_bytes(page) -> dict:
    """{"bytes": n}: the websocket bytes ``page`` receives from now on (kept up to date)."""
    box = {"bytes": 0}

    def received(frame) -> None:
        box["bytes"] += len(frame)

    page.on("websocket", lambda ws: ws.on("framereceived", received))
    return box


def frames_text(frames: list) -> list[str]:
    """Websocket frames as text (binary frames decoded byte for byte as latin-1)."""
    return [f if isinstance(f, str) else f.decode("latin-1") for f in frames]


def assert_no_leaks(haystacks: list[str], forbidden) -> None:
    """None of the ``forbidden`` strings occurs in any of the ``haystacks`` (blinding crawl)."""
    for needle in forbidden:
        hits = [h for h in haystacks if needle in h]
        assert not hits, f"{needle!r} reached the reader's browser"


def save_failure(page, name: str) -> None:
    """Screenshot and HTML of ``page`` to tests/_artifacts/<name>.png / .html (git-ignored)."""
    artifacts = REPO_ROOT / "tests" / "_artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
    (artifacts / f"{name}.html").write_text(page.content())


# --------------------------------------------------------------- the slice viewer component


def wait_viewer_opened(
    page, n: int = 1, timeout_ms: int = 60_000, *, no_errors: bool = True
) -> None:
    """Until the slice viewer on ``page`` has opened ``n`` volumes (or reported an error);
    with ``no_errors`` assert it reported none."""
    page.wait_for_function(
        "n => window.__viewerStats && (window.__viewerStats.opens.length >= n"
        " || window.__viewerStats.errors.length > 0)",
        arg=n,
        timeout=timeout_ms,
    )
    if no_errors:
        assert page.evaluate("window.__viewerStats.errors") == []


def choose_score(page, value: int) -> None:
    """Click the Likert button ``value`` ("4 – ...") and wait until the page shows it."""
    page.get_by_role("button", name=re.compile(rf"^{value} – ")).click()
    page.get_by_text(f"Your score: {value}").wait_for()


def submit_item(page, value: int) -> str:
    """Click Submit; the saved item's code (from "Saved: item CODE scored VALUE")."""
    page.get_by_role("button", name=re.compile("^Submit")).click()
    saved = page.get_by_text(re.compile(rf"Saved: item [\w-]+ scored {value}"))
    saved.wait_for()
    return re.search(r"item ([\w-]+) scored", saved.inner_text()).group(1)


def open_review(page, code: str, timeout_ms: int) -> None:
    """ "Review my answers": open her scored item ``code`` and wait until it is shown."""
    page.get_by_text("Review my answers").click()
    wait_for_app(page, timeout_ms)
    pick = page.get_by_role("combobox", name="Change the answer of a scored item")
    pick.click()
    pick.press("ArrowDown")
    listbox = page.get_by_role("listbox")
    listbox.wait_for(state="attached")
    listbox.get_by_text(code).first.click()
    page.get_by_role("button", name="Back to my queue").wait_for()
    wait_for_app(page, timeout_ms)


def repeat_until(act, shown, page, tries: int = 3) -> None:
    """Run ``act()`` until the locator ``shown`` appears (20 s each try): under load a click
    or a chosen file that lands while the app reruns can be lost, so use it for idempotent
    actions only, where a repeat changes nothing. The last failure lists the page's alerts."""
    for attempt in range(tries):
        act()
        try:
            shown.wait_for(timeout=20_000)
            return
        except Exception as exc:
            if attempt == tries - 1:
                alerts = page.locator('[data-testid="stAlert"]').all_inner_texts()
                raise AssertionError(
                    f"{shown} not shown after {tries} tries; the page's alerts: {alerts}"
                ) from exc


def click_until(button, shown, tries: int = 3) -> None:
    """Click ``button`` until ``shown`` appears (``repeat_until``)."""
    repeat_until(button.click, shown, button.page, tries)
