"""Start and stop a real ``parcours serve`` for the collector's end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``parcours`` in a subprocess (same interpreter and PYTHONPATH)."""
    out = subprocess.run([sys.executable, "-m", "parcours.cli", *args], capture_output=True, text=True,
                         env=env or dict(os.environ), timeout=600)
    if check and out.returncode != 0:
        raise AssertionError(f"parcours {' '.join(args)} failed: {out.stderr[-2000:]}")
    return out


class Server:
    """``parcours serve`` on a loopback port."""

    def __init__(self, workspace: Path, port: int | None = None, workers: int = 1,
                 env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> None:
        self.workspace = workspace
        self.args = args
        self.port = port or free_port()
        self.workers = workers
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> Server:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "parcours.cli", "serve", "-w", str(self.workspace),
             "--port", str(self.port), "--workers", str(self.workers), *self.args],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise AssertionError(f"server exited: {err[-2000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("server did not start")

    def kill(self) -> None:
        """SIGKILL the whole process group (uvicorn workers included)."""
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        """Graceful stop (SIGTERM): segments are sealed."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
            self.proc = None

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
