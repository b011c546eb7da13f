"""Progress reporting without printing from library code.

Long functions accept ``progress: Progress | None`` and call
``progress(step, done, total)``; the CLI turns the calls into Rich progress bars.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int], None]


def noop(step: str, done: int, total: int) -> None:
    """The default: report nothing."""
