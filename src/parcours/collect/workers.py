"""Decode workers: the loader's CPU-bound half in other processes.

Decoding a spool record (msgspec), building its Arrow columns and checking them holds
the GIL; a thread cannot overlap it with more of the same. With ``load_spool(workers=N)``
(``parcours load --workers N``) the loader cuts each sealed segment into spans of whole records (:meth:`SealedSegment.spans`,
headers only) and has a pool of processes decode them (:func:`decode_span`), each span
exactly as :class:`parcours.collect.loader.Batch` would in-process: same fast path,
same fallback to :func:`parcours.collect.model.decode`, same quarantine rows and ids.

Workers are plain ``python -m parcours.collect.workers`` processes reading requests
on stdin and answering on stdout (:class:`DecodePool`), not ``multiprocessing``: a
spawned ``multiprocessing`` child imports the caller's ``__main__`` again, which breaks
a script calling ``load_spool`` without an ``if __name__ == "__main__"`` guard, and
fork is unsafe once DuckDB or delta-rs threads run. A worker hands its tables back as
Arrow IPC files in a private folder (``/dev/shm`` when there is one): the loader
memory-maps them, so the columns cross the process boundary without being pickled or
copied. Only counts and quarantine rows are pickled.
The loader keeps everything else: the segments' locks, the order of spans, the cuts
into micro-batches, dedupe, the lake commits and deleting segments after them — the
exactly-once rules do not change. At most ``2 × workers`` spans are decoded ahead, so
memory stays bounded by the micro-batch plus those spans.

Not the default: each worker's start-up imports cost about a second of CPU, and every
span is deduplicated twice (in its worker, then across the batch), so a worker load
spends more CPU per event than an in-process one; it is faster only when cores are
idle. On a busy machine the in-process loader does more per CPU-second.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from parcours.collect import quarantine as q
from parcours.collect.errors import DecodeWorkerError

#: Bytes of records per span: ~14,000 events of the benchmark's shape; small enough to
#: keep workers busy and memory low, large enough that a span's fixed costs vanish.
SPAN_BYTES = 4 << 20


@dataclass
class SpanResult:
    """One decoded span: its tables (as IPC files), counts, quarantine rows, and where
    reading stopped (less than the span's end: the segment is damaged from there)."""

    files: dict[str, str] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    quarantine: dict[str, q.QuarantineBuffer] = field(default_factory=dict)
    records: int = 0
    size: int = 0
    stopped_at: int = 0


def decode_span(path: str, start: int, end: int, max_event_bytes: int, source: str,
                out_dir: str) -> SpanResult:
    """Decode the records of ``path`` between ``start`` and ``end`` (in a worker)."""
    from parcours.collect.loader import Batch
    from parcours.collect.spool import read_span

    records, stopped = read_span(path, start, end)
    batch = Batch(source, max_event_bytes)
    for rec in records:
        batch.add(rec)
    batch.prepare()
    del records
    out = SpanResult(duplicates=batch.duplicates, quarantine=batch.quarantine, records=batch.records,
                     size=batch.size, stopped_at=stopped)
    for tenant, table in batch.tables.items():
        name = os.path.join(out_dir, f"{uuid.uuid4().hex}.arrow")
        with pa.OSFile(name, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        out.files[tenant] = name
    return out


def open_span(result: SpanResult) -> dict[str, pa.Table]:
    """The tables of a decoded span, memory-mapped; their files are unlinked at once
    (the mapping keeps the pages until the tables are freed)."""
    tables = {}
    for tenant, name in result.files.items():
        with pa.memory_map(name) as source:
            tables[tenant] = pa.ipc.open_file(source).read_all()
        os.unlink(name)
    return tables


def drop_span(result: SpanResult) -> None:
    """Forget a decoded span that will not be loaded (after a damaged record)."""
    for name in result.files.values():
        Path(name).unlink(missing_ok=True)


def scratch_dir() -> str:
    """A private folder for the workers' IPC files, in memory when possible."""
    shm = Path("/dev/shm")
    base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    return tempfile.mkdtemp(prefix="parcours-load-", dir=base)


# -- the pool --------------------------------------------------------------------------

_FRAME = struct.Struct("<Q")


def _send(fh: IO[bytes], obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    fh.write(_FRAME.pack(len(data)))
    fh.write(data)
    fh.flush()


def _receive(fh: IO[bytes]) -> Any:
    head = fh.read(_FRAME.size)
    if len(head) < _FRAME.size:
        raise EOFError
    (n,) = _FRAME.unpack(head)
    data = fh.read(n)
    if len(data) < n:
        raise EOFError
    return pickle.loads(data)  # noqa: S301 - our own child process, over its own pipe


class DecodePool:
    """``workers`` decode processes; spans are dealt round-robin and each worker answers
    in order, so :meth:`result` returns the spans in the order they were submitted."""

    def __init__(self, workers: int) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self._procs: list[subprocess.Popen[bytes]] = []
        self._sent = self._received = 0
        try:
            for _ in range(workers):
                self._procs.append(subprocess.Popen(
                    [sys.executable, "-m", "parcours.collect.workers"], stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, env=env))
        except BaseException:
            self.close()
            raise

    def submit(self, args: Sequence[Any]) -> None:
        proc = self._procs[self._sent % len(self._procs)]
        try:
            _send(proc.stdin, tuple(args))  # type: ignore[arg-type]
        except OSError as exc:
            raise DecodeWorkerError(f"worker {proc.pid} is gone ({exc})") from None
        self._sent += 1

    def result(self) -> SpanResult:
        proc = self._procs[self._received % len(self._procs)]
        self._received += 1
        try:
            status, value = _receive(proc.stdout)  # type: ignore[arg-type]
        except EOFError:
            raise DecodeWorkerError(f"worker {proc.pid} died (exit code {proc.poll()})") from None
        if status != "ok":
            raise DecodeWorkerError(str(value))
        return value

    def close(self) -> None:
        """Stop the workers (they finish the span at hand) and wait for them."""
        for proc in self._procs:
            # both pipes: a worker answering a span nobody will read (the load failed)
            # gets a broken pipe instead of blocking on a full one
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()
        for proc in self._procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _serve() -> None:
    """A worker: decode the spans asked on stdin, answer on stdout, until stdin closes."""
    requests = sys.stdin.buffer
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to stderr, never into the answers
    while True:
        try:
            args = _receive(requests)
        except EOFError:
            return
        try:
            answer: tuple[str, Any] = ("ok", decode_span(*args))
        except Exception as exc:  # noqa: BLE001 - reported to the loader, which stops
            answer = ("error", f"{type(exc).__name__}: {exc}")
        try:
            _send(answers, answer)
        except BrokenPipeError:  # the loader stopped (failed) and reads no more
            return


if __name__ == "__main__":  # run as parcours.collect.workers, so results unpickle by that name
    from parcours.collect.workers import _serve as serve

    serve()
