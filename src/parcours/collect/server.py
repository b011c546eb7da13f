"""What ``parcours serve`` runs: ``/v1/*`` to the collector, everything else to FastAPI.

The collector stays a plain ASGI function (the hot path); the REST API and the data
hub are the FastAPI app of :func:`parcours.web.app.create_app`. With several
workers, uvicorn imports :func:`app_from_env` in each worker process; every worker
has its own spool segment and its own listening socket (``SO_REUSEPORT``, see
:func:`serve`).
"""

from __future__ import annotations

import gc
import os
import socket
import sys
from typing import TYPE_CHECKING, Any

from parcours.collect.collector import Collector, Receive, Scope, Send, Sink
from parcours.collect.errors import ServeError
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
    from parcours.web.fast360 import Fast360

    return Router(make_collector(ws, sink), Fast360(ws, create_app(ws)))


def app_from_env() -> Router:
    """uvicorn factory for multi-worker serving: the workspace comes from the environment."""
    from parcours.workspace import open_workspace

    return build_app(open_workspace(os.environ[WORKSPACE_ENV]))


class _ReusePortSocket(socket.socket):
    """A listening address that every worker binds for itself (``SO_REUSEPORT``).

    With one socket shared by all workers, the worker that wakes first accepts every
    connection waiting: a client opening 64 connections at once had them split 21/43
    or 24/40 between two workers more often than not, and the busier worker's queue
    set the latency of all. With one socket per worker the kernel spreads connections
    by a hash of their addresses. The parent binds it (so a port in use fails at once)
    but never listens on it; pickled into a worker (uvicorn spawns them), it binds a
    new socket to the same address there.
    """

    @classmethod
    def claim(cls, host: str, port: int) -> _ReusePortSocket:
        """The parent's socket. The address is first bound without ``SO_REUSEPORT``, so
        a second server started on a port in use fails as it did before, instead of
        silently sharing its connections with the first one."""
        with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
            port = probe.getsockname()[1]
        return cls.bound(host, port)

    @classmethod
    def bound(cls, host: str, port: int) -> _ReusePortSocket:
        sock = cls(_family(host), socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        return sock

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        host, port = self.getsockname()[:2]
        return _ReusePortSocket.bound, (host, port)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def serve(ws: Workspace, host: str, port: int, workers: int) -> None:
    """Run the server (what ``parcours serve`` does): one process, or ``workers`` uvicorn
    worker processes, each with its own listening socket on Linux."""
    import uvicorn

    if workers <= 1:
        uvicorn.run(build_app(ws), host=host, port=port, log_level="warning", access_log=False)
        return
    os.environ[WORKSPACE_ENV] = str(ws.path)  # each worker process builds the app from it
    options: dict[str, Any] = {"factory": True, "host": host, "port": port, "workers": workers,
                               "log_level": "warning", "access_log": False}
    factory = "parcours.collect.server:app_from_env"
    if not sys.platform.startswith("linux"):  # SO_REUSEPORT spreads connections only there
        uvicorn.run(factory, **options)
        return
    from uvicorn.supervisors import Multiprocess

    try:
        sock = _ReusePortSocket.claim(host, port)
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}", host=host, port=port) from exc
    try:
        Multiprocess(uvicorn.Config(factory, **options), sockets=[sock]).run()
    finally:
        sock.close()
