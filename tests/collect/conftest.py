"""Fixtures of the collector tests: an in-process app over a fresh workspace."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from parcours.collect.keys import WriteKeyStore
from parcours.collect.server import build_app


class Harness:
    """The server app of a workspace, driven in-process through httpx."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.app = build_app(ws)
        self.keys = WriteKeyStore(ws.state_dir)
        self.loop = asyncio.new_event_loop()
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://test")

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.client.post(path, **kw))

    def seal(self) -> None:
        """Seal the open spool segment (what a rotation or a shutdown does)."""
        self.app.collector.sink.close()
        self.app = build_app(self.ws)
        self.loop.run_until_complete(self.client.aclose())
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://test")

    def close(self) -> None:
        self.app.collector.sink.close()
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


@pytest.fixture()
def harness(workspace) -> Iterator[Harness]:
    h = Harness(workspace)
    yield h
    h.close()
