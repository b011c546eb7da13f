"""The demo world: two reference businesses with planted truth (see docs/demo.md)."""

from __future__ import annotations

from parcours.demo.build import DemoSummary, build_demo
from parcours.demo.errors import DemoError

__all__ = ["DemoError", "DemoSummary", "build_demo"]
