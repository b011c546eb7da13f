"""Shared helpers for the benchmarks: peak memory of a process tree, timing, results."""

from __future__ import annotations

import json
import os
import platform
import threading
import time
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import psutil

RESULTS = Path(__file__).resolve().parent / "results"


class PeakMemory:
    """Samples the RSS of this process and its children (e.g. Spark's JVM)."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        me = psutil.Process()
        total = me.memory_info().rss
        for child in me.children(recursive=True):
            with suppress(psutil.Error):
                total += child.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            time.sleep(self.interval)

    def __enter__(self) -> PeakMemory:
        self.peak = self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._sample())


@contextmanager
def measured(out: dict[str, Any], key: str):
    """Record seconds and peak GiB of the block under ``out[key]``."""
    with PeakMemory() as mem:
        start = time.perf_counter()
        yield
        seconds = time.perf_counter() - start
    out[key] = {"seconds": round(seconds, 3), "peak_gib": round(mem.peak / 2**30, 3)}


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
    }


def save(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    result = {"benchmark": name, "machine": machine(), "when": time.strftime("%Y-%m-%d %H:%M"), **result}
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path
