"""The durable spool: append-only segment files with group commit.

Each server worker appends to its own segment file. A record is::

    b"P1" | meta length (u32) | body length (u32) | crc32(meta + body) (u32) | meta | body

where ``meta`` is a small msgpack map (tenant, default channel, endpoint, arrival
time in µs) and ``body`` is the request body as received (decompressed). Requests
are acknowledged only after the record is on disk: a background thread writes
everything that arrived since its previous round and calls ``fdatasync``, then
wakes every waiting request at once (group commit, no timer — a round starts as
soon as the previous one ends).

A writer holds an exclusive ``flock`` on its open segment. The loader only reads
segments it can lock, that is segments whose writer rotated them (size or age) or
died; a torn record at the end of a dead writer's segment was never acknowledged
and is skipped (crc and length checks).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import mmap
import os
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec

MAGIC = b"P1"
_HEADER = struct.Struct("<2sIII")
SUFFIX = ".spool"
#: The longest a commit round waits for the previous round's requests to come back.
MAX_GROUP_WAIT = 0.002

Waiter = Callable[[BaseException | None], None]
#: An asyncio request waiting for its record: its loop and its future.
_AsyncWaiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[None]"]


class Meta(msgspec.Struct, array_like=True):
    """What the collector knows about a request besides its body."""

    tenant: str
    channel: str | None
    endpoint: str
    received_us: int


_meta_enc = msgspec.msgpack.Encoder()
_meta_dec = msgspec.msgpack.Decoder(Meta)


def encode_record(meta: Meta, body: bytes) -> bytes:
    """One spool (or Kafka) record."""
    m = _meta_enc.encode(meta)
    crc = zlib.crc32(body, zlib.crc32(m))
    return b"".join((_HEADER.pack(MAGIC, len(m), len(body), crc), m, body))


def decode_record(data: bytes | memoryview) -> tuple[Meta, bytes]:
    """Decode one record (raises ValueError if it is damaged)."""
    view = memoryview(data)
    if len(view) < _HEADER.size:
        raise ValueError("truncated record")
    magic, mlen, blen, crc = _HEADER.unpack_from(view)
    end = _HEADER.size + mlen + blen
    if magic != MAGIC or len(view) < end:
        raise ValueError("truncated or damaged record")
    m = view[_HEADER.size : _HEADER.size + mlen]
    body = view[_HEADER.size + mlen : end]
    if zlib.crc32(body, zlib.crc32(m)) != crc:
        raise ValueError("record checksum mismatch")
    return _meta_dec.decode(m), bytes(body)


@dataclass
class Record:
    """A record read back from a segment."""

    segment: str
    offset: int
    meta: Meta
    body: bytes


class SpoolWriter:
    """One worker's appender with a group-commit thread.

    Args:
        folder: the spool folder.
        segment_bytes: rotate the segment when it reaches this size…
        segment_seconds: …or when it is this old and not empty, so the loader sees
            events within this delay.
    """

    def __init__(self, folder: str | Path, segment_bytes: int = 64 << 20, segment_seconds: float = 5.0) -> None:
        self.folder = Path(folder)
        self.segment_bytes = segment_bytes
        self.segment_seconds = segment_seconds
        self._cond = threading.Condition()
        self._pending: list[bytes] = []
        self._waiters: list[Waiter | _AsyncWaiter] = []
        self._fd: int | None = None
        self._size = 0
        self._opened = 0.0
        self._closing = False
        self._thread: threading.Thread | None = None
        self.path: Path | None = None
        self._last_round = 0  # records in the previous commit round
        self._last_sync = 0.0  # seconds its fdatasync took
        # how many pending records wake the commit thread: 1 while it waits for work,
        # the previous round's size while it waits for that round's requests to come
        # back, never while it writes (it looks at what is pending when done). A wake-up
        # is a futex call, two context switches and a GIL hand-over; one per request
        # during a group wait only made it check a count and sleep again
        self._wake_at = 1

    # -- segment files ----------------------------------------------------------------
    def _open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp = self.folder / (name + ".creating")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)  # held until rotation: the loader skips locked segments
        final = self.folder / (name + SUFFIX)
        os.rename(tmp, final)
        _fsync_dir(self.folder)
        self._fd, self._size, self._opened, self.path = fd, 0, time.monotonic(), final

    def _close_segment(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock: the segment is now sealed
            self._fd = None
            if self._size == 0 and self.path is not None:
                self.path.unlink(missing_ok=True)
            self.path = None

    # -- appending --------------------------------------------------------------------
    def append(self, record: bytes, done: Waiter) -> None:
        """Queue a record; ``done(None)`` is called from the commit thread once it is
        on disk, ``done(error)`` if the write failed."""
        self._enqueue(record, done)

    def _enqueue(self, record: bytes, waiter: Waiter | _AsyncWaiter) -> None:
        with self._cond:
            if self._closing:
                raise RuntimeError("spool writer is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="spool-commit", daemon=True)
                self._thread.start()
            self._pending.append(record)
            self._waiters.append(waiter)
            if len(self._pending) >= self._wake_at:
                self._cond.notify()

    async def write(self, record: bytes) -> None:
        """Append and wait until durable (for asyncio callers)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        with self._cond:  # _enqueue, inlined: this is every request's path
            if self._closing or self._thread is None:
                self._enqueue(record, (loop, fut))
            else:
                self._pending.append(record)
                self._waiters.append((loop, fut))
                if len(self._pending) >= self._wake_at:
                    self._cond.notify()
        await fut

    def write_sync(self, record: bytes) -> None:
        """Append and block until durable (threads, tests, benchmarks)."""
        event = threading.Event()
        box: list[BaseException | None] = [None]

        def done(err: BaseException | None) -> None:
            box[0] = err
            event.set()

        self.append(record, done)
        event.wait()
        if box[0] is not None:
            raise box[0]

    def _run(self) -> None:
        while True:
            with self._cond:
                self._wake_at = 1
                while not self._pending and not self._closing:
                    timeout = None
                    if self._fd is not None and self._size:
                        timeout = max(0.0, self._opened + self.segment_seconds - time.monotonic())
                        if timeout == 0.0:
                            break
                    self._cond.wait(timeout)
                # adaptive group commit: the previous round's requests are coming back
                # one by one; wait for them a little (at most half an fdatasync) instead
                # of syncing the first alone and making the others wait a whole round
                if self._pending and not self._closing and len(self._pending) < self._last_round:
                    self._wake_at = self._last_round
                    until = time.monotonic() + min(self._last_sync / 2, MAX_GROUP_WAIT)
                    while len(self._pending) < self._last_round and not self._closing:
                        left = until - time.monotonic()
                        if left <= 0:
                            break
                        self._cond.wait(left)
                self._wake_at = 1 << 62  # busy: nobody needs to wake it
                batch, waiters = self._pending, self._waiters
                self._pending, self._waiters = [], []
                closing = self._closing
            error: BaseException | None = None
            if batch:
                try:
                    if self._fd is None:
                        self._open()
                    data = b"".join(batch)
                    del batch
                    view = memoryview(data)
                    while view:
                        n = os.write(self._fd, view)  # type: ignore[arg-type]
                        view = view[n:]
                    started = time.monotonic()
                    os.fdatasync(self._fd)  # type: ignore[arg-type]
                    self._last_sync = time.monotonic() - started
                    self._last_round = len(waiters)
                    self._size += len(data)
                except OSError as exc:  # disk full, I/O error: the clients get a 503 and retry
                    error = exc
                    self._close_segment()
            _wake(waiters, error)
            if self._fd is not None and (
                self._size >= self.segment_bytes
                or (self._size and time.monotonic() - self._opened >= self.segment_seconds)
            ):
                self._close_segment()
            if closing:
                with self._cond:
                    if not self._pending:
                        self._close_segment()
                        return

    def close(self) -> None:
        """Commit what is pending, seal the segment and stop the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join()
        else:
            self._close_segment()


def _wake(waiters: list[Waiter | _AsyncWaiter], err: BaseException | None) -> None:
    """Tell every waiter of a round; one wake-up per event loop, not one per request
    (each ``call_soon_threadsafe`` writes to the loop's self-pipe)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for w in waiters:
        if isinstance(w, tuple):
            by_loop.setdefault(w[0], []).append(w[1])
        else:
            w(err)
    for loop, futs in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_settle, futs, err)


def _settle(futs: list[asyncio.Future[None]], err: BaseException | None) -> None:
    for fut in futs:
        if fut.done():
            continue
        if err is None:
            fut.set_result(None)
        else:
            fut.set_exception(err)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- reading (the loader) -------------------------------------------------------------


class SealedSegment:
    """A segment the loader holds locked while it loads it."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd
        self.damaged_bytes = 0

    @property
    def name(self) -> str:
        return self.path.name

    def records(self) -> Iterator[Record]:
        """The segment's records in order; stops at a torn or damaged tail."""
        size = self.size
        box = [0]
        yield from _read(self._fd, self.path.name, 0, size, box)
        self.damaged_bytes = size - box[0]

    @property
    def size(self) -> int:
        return os.fstat(self._fd).st_size

    def spans(self, max_bytes: int) -> tuple[list[tuple[int, int]], int]:
        """The segment cut into runs of whole records of at most ``max_bytes`` each (one
        record at least), from the headers alone, and where the headers stop making
        sense (the file's size if nowhere). Checksums are verified by whoever reads a
        span (:func:`read_span`)."""
        size = self.size
        out: list[tuple[int, int]] = []
        start = offset = 0
        while offset + _HEADER.size <= size:
            head = os.pread(self._fd, _HEADER.size, offset)
            magic, mlen, blen, _ = _HEADER.unpack(head)
            end = offset + _HEADER.size + mlen + blen
            if magic != MAGIC or end > size:
                break
            if end - start > max_bytes and offset > start:
                out.append((start, offset))
                start = offset
            offset = end
        if offset > start:
            out.append((start, offset))
        return out, offset  # never past the size: a record ending past it stops the walk

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)
        _fsync_dir(self.path.parent)
        self.release()

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _read(fd: int, name: str, start: int, end: int, stop: list[int]) -> Iterator[Record]:
    """Records of ``fd`` from ``start`` (a record's start) to ``end``; ``stop[0]`` is set
    to where reading stopped (``end``, or the first torn or damaged record).

    The file is memory-mapped: headers, checksums and metas are read in place and each
    body is copied once (not read, joined to its header and sliced again).
    """
    offset = stop[0] = start
    if end <= start:
        return
    with mmap.mmap(fd, end, access=mmap.ACCESS_READ) as mm:
        view = memoryview(mm)
        try:
            while offset + _HEADER.size <= end:
                magic, mlen, blen, crc = _HEADER.unpack_from(view, offset)
                body_at = offset + _HEADER.size + mlen
                rec_end = body_at + blen
                if magic != MAGIC or rec_end > end:
                    break
                if zlib.crc32(view[body_at:rec_end], zlib.crc32(view[offset + _HEADER.size:body_at])) != crc:
                    break
                try:
                    meta = _meta_dec.decode(view[offset + _HEADER.size:body_at])
                except msgspec.DecodeError:
                    break
                yield Record(name, offset, meta, mm[body_at:rec_end])
                offset = stop[0] = rec_end
        finally:
            view.release()


def read_span(path: str | Path, start: int, end: int) -> tuple[list[Record], int]:
    """The records of one span of a segment (see :meth:`SealedSegment.spans`) and where
    reading stopped: ``end``, or the start of the first damaged record (the rest of the
    segment is then not to be loaded, as :meth:`SealedSegment.records` would not)."""
    path = Path(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        stop = [start]
        records = list(_read(fd, path.name, start, end, stop))
        return records, stop[0]
    finally:
        os.close(fd)


def sealed_segments(folder: str | Path) -> Iterator[SealedSegment]:
    """Segments no writer holds, oldest first, each locked for the caller."""
    root = Path(folder)
    if not root.is_dir():
        return
    for path in sorted(root.glob("*" + SUFFIX)):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        if not path.exists():  # another loader deleted it meanwhile
            os.close(fd)
            continue
        yield SealedSegment(path, fd)


def spool_stats(folder: str | Path) -> dict[str, int]:
    """Segments and bytes waiting in the spool (for the hub and ``parcours load``)."""
    root = Path(folder)
    files = list(root.glob("*" + SUFFIX)) if root.is_dir() else []
    return {"segments": len(files), "bytes": sum(f.stat().st_size for f in files if f.exists())}
