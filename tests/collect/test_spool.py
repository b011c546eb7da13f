"""The spool: records survive byte for byte, a torn tail is skipped, a segment held by
a live writer is never loaded, and group commit wakes every waiter."""

from __future__ import annotations

import threading

from parcours.collect.spool import Meta, SpoolWriter, decode_record, encode_record, sealed_segments


def test_record_round_trip_and_damage_detected():
    rec = encode_record(Meta("energie", "web", "batch", 123), b'{"batch":[]}')
    meta, body = decode_record(rec)
    assert (meta.tenant, meta.channel, meta.endpoint, meta.received_us, body) == ("energie", "web", "batch", 123, b'{"batch":[]}')
    damaged = bytearray(rec)
    damaged[-2] ^= 0xFF
    for bad in (bytes(damaged), rec[:-1], b"XX" + rec[2:]):
        try:
            decode_record(bad)
        except ValueError:
            continue
        raise AssertionError("damage not detected")


def test_live_segment_is_skipped_and_torn_tail_ignored(tmp_path):
    w = SpoolWriter(tmp_path, segment_seconds=3600)
    bodies = [f'{{"n":{i}}}'.encode() for i in range(50)]
    threads = [threading.Thread(target=w.write_sync, args=(encode_record(Meta("t", None, "batch", i), b),))
               for i, b in enumerate(bodies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert w.path is not None and w.path.stat().st_size > 0
    assert list(sealed_segments(tmp_path)) == []  # the writer holds it
    path = w.path
    w.close()  # seals it
    # simulate a writer killed in the middle of its next append: a torn record at the end
    with open(path, "ab") as fh:
        fh.write(encode_record(Meta("t", None, "batch", 99), b'{"n":"torn"}')[:-5])
    segs = list(sealed_segments(tmp_path))
    assert len(segs) == 1
    got = sorted(r.body for r in segs[0].records())
    assert got == sorted(bodies) and segs[0].damaged_bytes > 0
    # a second loader cannot take a segment the first one holds
    assert list(sealed_segments(tmp_path)) == []
    segs[0].delete()
    assert not path.exists()


def test_watch_survives_a_failing_load_and_keeps_the_segment(workspace):
    import time

    from parcours.collect.loader import recent_loads, watch

    w = SpoolWriter(workspace.spool_dir)
    body = b'{"batch":[{"type":"track","messageId":"x","userId":"u","event":"E"}]}'
    w.write_sync(encode_record(Meta("ghost", None, "batch", 1), body))  # a tenant that does not exist
    w.close()
    stop = threading.Event()
    t = threading.Thread(target=watch, args=(workspace,), kwargs={"stop": stop})
    t.start()
    deadline = time.monotonic() + 20
    while not recent_loads(workspace) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    t.join(timeout=30)
    assert not t.is_alive()
    log = recent_loads(workspace)
    assert log and "unknown tenant 'ghost'" in log[0]["error"]
    assert len(list(workspace.spool_dir.glob("*.spool"))) == 1  # nothing lost
