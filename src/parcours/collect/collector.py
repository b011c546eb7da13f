"""The Segment-compatible HTTP collector: a plain ASGI callable.

No framework on this path: the body is read, size-checked, gunzipped, decoded and
validated by msgspec, and appended as one record to the worker's spool segment (or
produced to Kafka); the answer is sent only once the record is durable.

Answers:

* ``200 {"success": true}`` — every event is durable.
* ``400`` — some events (or the whole body) are invalid. The body names each
  rejected event (``index``, ``messageId``, ``reason``) and how many were accepted.
  The valid events of the same batch ARE accepted (durable before the answer), and
  the rejected ones are kept in the tenant's quarantine table with their reason, so
  a client must not resend the batch (Segment's SDKs do not retry a 4xx).
* ``401`` — missing, unknown or revoked write key; ``413`` — over 32 KB per event or
  500 KB per batch; ``405``/``404`` — wrong method or path; ``503`` — the spool or
  Kafka could not make the events durable (the client retries). Never a 500 for bad
  input.

The tenant comes only from the write key, never from the body.
"""

from __future__ import annotations

import base64
import binascii
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import msgspec

from parcours.collect.keys import WriteKeyStore
from parcours.collect.model import ENDPOINTS, EVENT_TYPES, validate
from parcours.collect.spool import Meta, encode_record

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_json = msgspec.json.Encoder()
_CORS = [
    (b"access-control-allow-origin", b"*"),
]
_PREFLIGHT = [
    *_CORS,
    (b"access-control-allow-methods", b"POST, OPTIONS"),
    (b"access-control-allow-headers", b"authorization, content-type, content-encoding"),
    (b"access-control-max-age", b"86400"),
]
_OK = b'{"success":true}'
_JSON_TYPE = (b"content-type", b"application/json")
#: the answer to nearly every request, built once
_OK_HEADERS = [_JSON_TYPE, (b"content-length", str(len(_OK)).encode()), *_CORS]
#: ``/v1/<path>`` -> endpoint: the full names, and the short ones analytics.js posts to
#: (``/v1/t``, ``/v1/p`` … the type's first letter; ``/v1/b`` for its batching mode) plus
#: ``/v1/import``, the HTTP API's older name of ``/v1/batch``.
PATHS = {**{e: e for e in ENDPOINTS}, **{t[0]: t for t in EVENT_TYPES}, "b": "batch", "import": "batch"}
_AUTH_CACHE = 4096


class Sink(Protocol):
    """Where records become durable: the spool writer or the Kafka producer."""

    async def write(self, record: bytes) -> None: ...

    def close(self) -> None: ...


def _error(type_: str, message: str, **extra: Any) -> bytes:
    return _json.encode({"error": {"type": type_, "message": message, **extra}})


class Collector:
    """The ASGI app answering ``/v1/<batch|track|identify|page|screen|group|alias>``.

    Args:
        keys: the write-key store.
        sink: where records become durable.
        max_event_bytes, max_batch_bytes: Segment's limits.
    """

    def __init__(self, keys: WriteKeyStore, sink: Sink, max_event_bytes: int = 32 * 1024,
                 max_batch_bytes: int = 500 * 1024) -> None:
        self.keys = keys
        self.sink = sink
        self.max_event_bytes = max_event_bytes
        self.max_batch_bytes = max_batch_bytes
        self._users: dict[bytes, str | None] = {}  # Authorization header -> its user name

    def _basic_user(self, value: bytes) -> str | None:
        """The Basic auth user name of a header; a client sends the same header on every
        request, so each distinct header is parsed once (at most ``_AUTH_CACHE`` kept)."""
        try:
            return self._users[value]
        except KeyError:
            pass
        if len(self._users) >= _AUTH_CACHE:
            self._users.clear()
        user = self._users[value] = _basic_user(value)
        return user

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self._lifespan(receive, send)
            return  # websockets are not served here
        try:
            status, body, headers = await self._handle(scope, receive)
        except OSError as exc:  # the sink failed: not the client's fault, and it may retry
            status, body, headers = 503, _error("Unavailable", f"events not stored, retry: {exc}"), _CORS
        if body is _OK:
            response_headers = _OK_HEADERS.copy()  # a copy: a middleware may add to it
        else:
            response_headers = [_JSON_TYPE, (b"content-length", str(len(body)).encode()), *headers]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.sink.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, scope: Scope, receive: Receive) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        endpoint = PATHS.get(scope["path"][4:].strip("/"))
        if endpoint is None:
            return 404, _error("NotFound", f"unknown endpoint {scope['path'][:80]}"), _CORS
        method = scope["method"]
        if method == "OPTIONS":
            return 204, b"", _PREFLIGHT
        if method != "POST":
            return 405, _error("MethodNotAllowed", "use POST"), [*_CORS, (b"allow", b"POST, OPTIONS")]
        limit = self.max_batch_bytes if endpoint == "batch" else self.max_event_bytes
        header_key: str | None = None
        gzipped = False
        for name, value in scope["headers"]:
            if name == b"authorization":
                header_key = self._basic_user(value)
                if header_key is None:
                    return 401, _error("Unauthorized", "Authorization must be Basic <writeKey>:"), _CORS
            elif name == b"content-encoding":
                enc = value.strip().lower()
                if enc == b"gzip":
                    gzipped = True
                elif enc not in (b"", b"identity"):
                    return 415, _error("UnsupportedEncoding", "Content-Encoding must be gzip or identity"), _CORS
            elif name == b"content-length":
                try:
                    if int(value) > limit:
                        return 413, _error("TooLarge", f"body larger than {limit} bytes", limit=limit), _CORS
                except ValueError:
                    return 400, _error("BadRequest", "invalid Content-Length"), _CORS
        wk = None
        if header_key is not None:  # refuse unknown keys before reading or decoding anything
            wk = self.keys.lookup(header_key)
            if wk is None:
                return 401, _error("Unauthorized", "unknown or revoked write key"), _CORS
        message = await receive()  # nearly always the whole body at once
        if message.get("more_body", False) or message["type"] != "http.request":
            raw = await _read_body(receive, limit, message)
        elif len(raw := message.get("body", b"")) > limit:
            raw = None
        del message
        if raw is None:
            return 413, _error("TooLarge", f"body larger than {limit} bytes", limit=limit), _CORS
        if gzipped:
            d = zlib.decompressobj(wbits=31)
            try:
                body = d.decompress(raw, limit + 1)
                if len(body) > limit or d.unconsumed_tail:
                    return 413, _error("TooLarge", f"decompressed body larger than {limit} bytes", limit=limit), _CORS
                body += d.flush()
                if not d.eof:
                    raise zlib.error("truncated gzip stream")
            except zlib.error as exc:
                return 400, _error("BadGzip", f"body is not valid gzip: {exc}"), _CORS
        else:
            body = raw
        del raw
        decoded = validate(body, endpoint, self.max_event_bytes)
        if header_key is None and decoded.fatal is not None:
            return 400, _error("InvalidBody", decoded.fatal), _CORS
        key = header_key if header_key is not None else decoded.write_key
        if not key:
            return 401, _error("Unauthorized", "a write key is required (Basic auth user name or writeKey)"), _CORS
        if header_key is not None and decoded.write_key and decoded.write_key != header_key:
            return 401, _error("Unauthorized", "the write keys of the header and of the body differ"), _CORS
        if wk is None:
            wk = self.keys.lookup(key)
        if wk is None:
            return 401, _error("Unauthorized", "unknown or revoked write key"), _CORS
        if decoded.total == 0 and decoded.fatal is None:
            return 200, _OK, _CORS  # an empty batch: nothing to keep
        accepted = decoded.accepted
        rejected = [r.to_dict() for r in decoded.rejections] if decoded.rejections else None
        fatal = decoded.fatal
        del decoded  # parsed objects are freed before the wait
        record = encode_record(Meta(wk.tenant, wk.channel, endpoint, time.time_ns() // 1000), body)
        del body
        await self.sink.write(record)
        if fatal is not None:
            return 400, _error("InvalidBody", fatal, accepted=0, quarantined=True), _CORS
        if rejected:
            msg = f"{len(rejected)} event(s) rejected, {accepted} accepted; rejected events are quarantined"
            return 400, _error("InvalidEvents", msg, accepted=accepted, rejected=rejected, quarantined=True), _CORS
        return 200, _OK, _CORS


def _basic_user(value: bytes) -> str | None:
    scheme, _, token = value.strip().partition(b" ")
    if scheme.lower() != b"basic":
        return None
    try:
        text = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return text.partition(":")[0]


async def _read_body(receive: Receive, limit: int, message: dict[str, Any]) -> bytes | None:
    """The body of a request sent in several messages, ``message`` being the first."""
    chunks: list[bytes] = []
    size = 0
    while True:
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
        message = await receive()
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
