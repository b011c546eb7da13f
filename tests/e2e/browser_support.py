"""What the data hub's browser tests share: a real server, Debian's Chromium, and a
recorder of every request a page makes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HubServer:
    """``parcours serve`` in a subprocess on a free loopback port."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> HubServer:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "parcours.cli", "serve", "-w", str(self.workspace),
             "--port", str(self.port), "--host", "127.0.0.1"],
            env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise AssertionError(f"server exited: {err[-3000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError("server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            self.proc = None


@dataclass
class RequestLog:
    """Every URL any page of the browser context asked for."""

    urls: list[str] = field(default_factory=list)
    #: console errors of every page (a Content-Security-Policy violation lands here)
    errors: list[str] = field(default_factory=list)

    def record(self, request: object) -> None:
        self.urls.append(request.url)  # type: ignore[attr-defined]

    def console(self, message: object) -> None:
        if message.type == "error":  # type: ignore[attr-defined]
            self.errors.append(message.text)  # type: ignore[attr-defined]

    def foreign(self) -> list[str]:
        """Requests whose host is not the loopback address (data: and blob: are local)."""
        out = []
        for u in self.urls:
            parts = urlsplit(u)
            if parts.scheme in ("data", "blob", "about"):
                continue
            if parts.hostname not in LOOPBACK:
                out.append(u)
        return out


def screenshot(page: object, name: str) -> Path:
    """Save a full-page screenshot as a test artefact, and the first screen of the page
    (smaller) as docs/img/hub-<name>.png for the user guide when
    PARCOURS_DOCS_SCREENSHOTS=1 (off by default: a test run leaves tracked files alone)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    if os.environ.get("PARCOURS_DOCS_SCREENSHOTS", "0") == "1" and DOCS_IMG.parent.is_dir():
        DOCS_IMG.mkdir(exist_ok=True)
        first = ARTIFACTS / f"{name}-screen.png"
        page.screenshot(path=str(first), full_page=False)  # type: ignore[attr-defined]
        shutil.copyfile(first, DOCS_IMG / f"hub-{name}.png")
    return path


def render_timing(page: object) -> dict[str, float]:
    """Milliseconds from navigation start to the server's answer, DOM ready, load, and
    charts drawn (the hub's script marks <html data-charts="drawn">)."""
    nav = page.evaluate(  # type: ignore[attr-defined]
        "() => { const n = performance.getEntriesByType('navigation')[0];"
        " return {response: n.responseEnd, dom: n.domContentLoadedEventEnd, load: n.loadEventEnd,"
        " now: performance.now()}; }"
    )
    return {k: round(float(v), 1) for k, v in nav.items()}


def write_timings(timings: dict[str, dict[str, float]]) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "timings.json").write_text(json.dumps(timings, indent=2), encoding="utf-8")
