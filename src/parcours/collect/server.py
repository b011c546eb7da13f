"""What ``parcours serve`` runs: ``/v1/*`` to the collector, everything else to FastAPI.

The collector stays a plain ASGI function (the hot path); the REST API and the data
hub are the FastAPI app of :func:`parcours.web.app.create_app`. With several
workers, uvicorn imports :func:`app_from_env` in each worker process; every worker
has its own spool segment.
"""

from __future__ import annotations

import gc
import os
from typing import TYPE_CHECKING, Any

from parcours.collect.collector import Collector, Receive, Scope, Send, Sink
from parcours.collect.keys import WriteKeyStore

if TYPE_CHECKING:
    from parcours.workspace import Workspace

WORKSPACE_ENV = "PARCOURS_WORKSPACE"


def make_sink(ws: Workspace) -> Sink:
    """The sink the settings ask for (``collect.sink``): the worker's own spool segment,
    group-committed (the embedded default; a :class:`SpoolWriter` is a sink), or Kafka."""
    if ws.settings.collect.sink == "kafka":
        from parcours.collect.kafka import KafkaSink

        return KafkaSink(ws.settings.collect.kafka_bootstrap, ws.settings.collect.kafka_topic)
    from parcours.collect.spool import SpoolWriter

    return SpoolWriter(ws.spool_dir, segment_seconds=ws.settings.collect.batch_max_seconds)


def make_collector(ws: Workspace, sink: Sink | None = None) -> Collector:
    c = ws.settings.collect
    return Collector(WriteKeyStore(ws.state_dir), sink or make_sink(ws), c.max_event_bytes, c.max_batch_bytes)


class Router:
    """Dispatch ``/v1/…`` to the collector and the rest to the web app."""

    def __init__(self, collector: Collector, web: Any) -> None:
        self.collector = collector
        self.web = web

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            await self.collector(scope, receive, send)
        elif scope["type"] == "lifespan":
            async def wrapped() -> dict[str, Any]:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    _freeze_startup_objects()
                elif message["type"] == "lifespan.shutdown":
                    self.collector.sink.close()
                return message

            await self.web(scope, wrapped, send)
        else:
            await self.web(scope, receive, send)


def _freeze_startup_objects() -> None:
    """Move what the worker built at startup (modules, the FastAPI app: ~115,000 objects)
    out of the garbage collector's reach. Otherwise each full collection walks them all:
    a pause of every request in flight (60-260 ms measured on the shared 2-core machine)
    about once per 15,000 requests under load. They live as long as the process anyway."""
    gc.collect()
    gc.freeze()


def build_app(ws: Workspace, sink: Sink | None = None) -> Router:
    """The whole server app of a workspace."""
    from parcours.web.app import create_app

    return Router(make_collector(ws, sink), create_app(ws))


def app_from_env() -> Router:
    """uvicorn factory for multi-worker serving: the workspace comes from the environment."""
    from parcours.workspace import open_workspace

    return build_app(open_workspace(os.environ[WORKSPACE_ENV]))
