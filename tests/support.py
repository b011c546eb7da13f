"""Helpers the fixtures and tests share."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest


def copy_workspace(ws: Any, tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A private copy of a workspace's folder, for a test that writes."""
    path: Path = tmp_path_factory.mktemp(name) / "ws"
    shutil.copytree(ws.path, path)
    return path
