"""Kafka as the event log (``parcours[kafka]``, confluent-kafka).

* :class:`KafkaSink` — the collector produces each request's record (the same bytes
  as a spool record) with ``acks=all`` and idempotence on, and answers the client
  only from the delivery report: a 200 means every in-sync replica has it.
* :func:`load_kafka` — the loader as a consumer group member: it reads micro-batches,
  commits them to the lake (same decode, dedupe and quarantine as the spool), and
  only then commits the group's offsets. A loader killed between the two commits
  re-reads the batch on restart; dedupe on message_id drops what is already there.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from parcours.collect.errors import KafkaSinkError
from parcours.collect.loader import Batch, LoadResult, loader_lock, record_load
from parcours.collect.spool import Record, decode_record
from parcours.errors import require
from parcours.progress import Progress

if TYPE_CHECKING:
    from parcours.workspace import Workspace


class KafkaSink:
    """Produce records to a topic; ``write`` returns once Kafka acknowledged (acks=all)."""

    def __init__(self, bootstrap: str, topic: str, extra: dict[str, Any] | None = None) -> None:
        ck = require("confluent_kafka", "kafka")
        if not bootstrap:
            raise KafkaSinkError("collect.kafka_bootstrap is not set (host:port of the Kafka brokers)")
        self.topic = topic
        self.producer = ck.Producer({
            "bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
            "linger.ms": 2, "message.timeout.ms": 30_000, **(extra or {}),
        })
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="kafka-delivery", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(0.05)

    async def write(self, record: bytes) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()

        def delivered(err: Any, _msg: Any) -> None:
            exc = None if err is None else OSError(f"Kafka did not take the events: {err}")
            loop.call_soon_threadsafe(_settle, fut, exc)

        try:
            self.producer.produce(self.topic, value=record, on_delivery=delivered)
        except BufferError as exc:  # the local queue is full: the client retries later
            raise OSError(f"Kafka producer queue full: {exc}") from exc
        await fut

    def close(self) -> None:
        self.producer.flush(30)
        self._stop.set()


def _settle(fut: asyncio.Future[None], err: BaseException | None) -> None:
    if not fut.done():
        if err is None:
            fut.set_result(None)
        else:
            fut.set_exception(err)


def load_kafka(
    ws: Workspace,
    idle_seconds: float = 5.0,
    forever: bool = False,
    progress: Progress | None = None,
    on_lake_commit: Callable[[LoadResult], None] | None = None,
    consumer_config: dict[str, Any] | None = None,
) -> LoadResult:
    """Consume the collector's topic into the lake until idle (or ``forever``).

    Args:
        idle_seconds: stop after this long without a message (ignored with ``forever``).
        on_lake_commit: called after each lake commit and before the offsets commit
            (observability; tests use it to simulate a crash in between).
    """
    ck = require("confluent_kafka", "kafka")
    c = ws.settings.collect
    if not c.kafka_bootstrap:
        raise KafkaSinkError("collect.kafka_bootstrap is not set (host:port of the Kafka brokers)")
    consumer = ck.Consumer({
        "bootstrap.servers": c.kafka_bootstrap, "group.id": c.kafka_group,
        "enable.auto.commit": False, "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        # a killed loader's partitions are reassigned after this long (Kafka's minimum)
        "session.timeout.ms": 6000, "heartbeat.interval.ms": 1000, **(consumer_config or {}),
    })
    assigned: list[float] = []  # idle time counts from the first partition assignment

    def on_assign(_consumer: Any, _partitions: Any) -> None:
        assigned.append(time.monotonic())

    consumer.subscribe([c.kafka_topic], on_assign=on_assign)
    result = LoadResult()
    start = time.perf_counter()
    batch = Batch("kafka", c.max_event_bytes)  # the collector's own limit
    first_at: float | None = None
    last_message = time.monotonic()
    offsets: dict[tuple[str, int], int] = {}

    def commit() -> None:
        nonlocal batch, first_at
        t0 = time.perf_counter()
        mine = LoadResult()
        with loader_lock(ws):
            batch.commit(ws, mine)
        result.merge(mine)
        if on_lake_commit is not None:
            on_lake_commit(result)
        # only after the lake commit, and exactly the offsets of this batch
        consumer.commit(offsets=[ck.TopicPartition(t, p, o + 1) for (t, p), o in offsets.items()],
                        asynchronous=False)
        offsets.clear()
        record_load(ws, "kafka", {**mine.log_counts(), "seconds": round(time.perf_counter() - t0, 3),
                                  "tenants": batch.tenants})
        batch, first_at = Batch("kafka", c.max_event_bytes), None
        if progress:
            progress("load from kafka", result.records, result.records)

    try:
        while True:
            messages = consumer.consume(num_messages=10_000, timeout=0.5)
            now = time.monotonic()
            for msg in messages:
                if msg.error():
                    if msg.error().fatal():
                        raise KafkaSinkError(f"Kafka consumer failed: {msg.error()}")
                    continue
                offsets[(msg.topic(), msg.partition())] = msg.offset()
                try:
                    meta, body = decode_record(msg.value())
                except Exception:  # noqa: BLE001 - a foreign message on the topic: skipped, counted
                    result.damaged_bytes += len(msg.value() or b"")
                    continue
                batch.add(Record(f"{msg.topic()}-{msg.partition()}", msg.offset(), meta, body))
                first_at = first_at or now
                if batch.size >= c.batch_max_events:
                    commit()
            if messages:
                last_message = now
            old = first_at is not None and now - first_at >= c.batch_max_seconds
            if offsets and (old or not messages):
                commit()
            if not forever and not offsets:
                if assigned and now - max(last_message, assigned[0]) >= idle_seconds:
                    break
                if not assigned and now - last_message >= idle_seconds + 60:
                    raise KafkaSinkError("no partition of the topic was assigned to this loader within "
                                         f"{idle_seconds + 60:.0f}s: is Kafka reachable?")
    finally:
        consumer.close()
    result.seconds = time.perf_counter() - start
    return result
