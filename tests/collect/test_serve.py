"""``parcours serve --workers N``: one listening socket per worker (SO_REUSEPORT)."""

from __future__ import annotations

import pickle
import select
import socket
import sys
from multiprocessing.reduction import ForkingPickler

import pytest

from parcours.collect.server import _ReusePortSocket

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT spreads only on Linux")


def _worker_sockets(parent: socket.socket, n: int) -> list[socket.socket]:
    """What each uvicorn worker gets: the parent's socket as multiprocessing pickles it."""
    socks = [pickle.loads(ForkingPickler.dumps(parent)) for _ in range(n)]
    for s in socks:
        s.listen(128)
    return socks


def test_each_worker_listens_on_its_own_socket_and_connections_are_spread():
    parent = _ReusePortSocket.claim("127.0.0.1", 0)
    port = parent.getsockname()[1]
    workers = _worker_sockets(parent, 2)
    try:
        assert [w.getsockname()[1] for w in workers] == [port, port]
        assert len({w.fileno() for w in workers}) == 2
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(64)]
        accepted = [0, 0]
        while sum(accepted) < 64:
            ready, _, _ = select.select(workers, [], [], 5)
            assert ready, f"only {sum(accepted)} of 64 connections arrived"
            for s in ready:
                conn, _ = s.accept()
                conn.close()
                accepted[workers.index(s)] += 1
        # spread by a hash of the client's port: 64 connections all on one worker would
        # have a chance of 2**-63; fewer than 12 on either, about 1e-7
        assert min(accepted) >= 12, accepted
        for c in clients:
            c.close()
    finally:
        for s in (parent, *workers):
            s.close()


def test_a_port_in_use_is_refused_even_by_a_reuseport_server():
    parent = _ReusePortSocket.claim("127.0.0.1", 0)
    port = parent.getsockname()[1]
    workers = _worker_sockets(parent, 1)
    try:  # a second `parcours serve` on the same port must fail, not share its connections
        with pytest.raises(OSError):
            _ReusePortSocket.claim("127.0.0.1", port)
        plain = socket.socket()
        plain.bind(("127.0.0.1", 0))
        plain.listen()
        with pytest.raises(OSError):  # and so does a port another program listens on
            _ReusePortSocket.claim("127.0.0.1", plain.getsockname()[1])
        plain.close()
    finally:
        for s in (parent, *workers):
            s.close()
