"""The server's front door: bounds on what any request may carry, before Gradio reads, logs or echoes it.

    app_kwargs = {"middleware": [gate_middleware(opts)]}      # server.launch hands this to Gradio's FastAPI app
    install_log_bounds()                                      # every log record keeps at most LOG_CHARS characters

Two rules, counted per client address (a browser, however many sessions it
opens, has one address; without --auth that is the closest thing to a person):

* **Uploads** (``POST /gradio_api/upload``, Gradio's own route, which every file
  a page sends goes through): one request at most ``--max-upload`` bytes; one
  address at most ``--upload-quota`` bytes an hour; the whole server at most
  ``--upload-total`` bytes an hour. Bytes are counted as they arrive, so a
  request without a Content-Length is cut off at the limit too.
* **Everything else**: a request body of at most ``MAX_BODY`` bytes. Form values,
  prompts and dropdowns are small; a 20 MB "dropdown value" is refused before
  Gradio parses it, so it is neither logged nor echoed.

A refusal is a 413 or 429 with one plain sentence, and the server goes on.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import List, Tuple

MAX_BODY = 256 * 2**10          # bytes of a non-upload request: JSON of form values, never files
LOG_CHARS = 2000                # a log record's message is cut to this many characters
UPLOAD_PATH = "/gradio_api/upload"
HOUR = 3600.0

log = logging.getLogger(__name__)


class Refused(Exception):
    def __init__(self, status: int, sentence: str):
        super().__init__(sentence)
        self.status, self.sentence = status, sentence


class UploadLedger:
    """Bytes uploaded in the last hour, per address and in all; thread-safe."""

    def __init__(self, per_address: int, total: int, clock=time.monotonic):
        self.per_address, self.total, self.clock = per_address, total, clock
        self._log: List[Tuple[float, str, int]] = []
        self._lock = threading.Lock()

    def _recent(self) -> None:
        now = self.clock()
        self._log = [e for e in self._log if now - e[0] < HOUR]

    def used(self, address: str) -> Tuple[int, int]:
        with self._lock:
            self._recent()
            return (sum(n for _, a, n in self._log if a == address), sum(n for _, _, n in self._log))

    def take(self, address: str, n: int) -> None:
        """Count ``n`` more bytes from ``address``, or Refused if that goes over a quota."""
        with self._lock:
            self._recent()
            mine = sum(b for _, a, b in self._log if a == address)
            everyone = sum(b for _, _, b in self._log)
            if mine + n > self.per_address:
                raise Refused(429, f"Uploads from your address are over this server's hourly quota "
                                   f"({self.per_address / 2**20:.0f} MB an hour); wait, or delete old uploads "
                                   "in the Train tab.")
            if everyone + n > self.total:
                raise Refused(429, f"The server has taken all the uploads it takes in an hour "
                                   f"({self.total / 2**20:.0f} MB); try again later.")
            self._log.append((self.clock(), address, n))


class Gate:
    """ASGI middleware: the two rules above, around Gradio's app."""

    def __init__(self, app, max_upload: int, ledger: UploadLedger, max_body: int = MAX_BODY):
        self.app, self.max_upload, self.ledger, self.max_body = app, max_upload, ledger, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        address = (scope.get("client") or ("unknown", 0))[0]
        upload = path.endswith(UPLOAD_PATH)
        limit = self.max_upload if upload else self.max_body
        declared = _content_length(scope)
        try:
            if declared is not None and declared > limit:
                raise _too_big(upload, limit)
            if upload:
                self.ledger.take(address, declared or 0)
        except Refused as e:
            return await _refuse(send, e, address, path)
        seen, counted = 0, declared is not None

        async def bounded_receive():
            nonlocal seen
            message = await receive()
            if message.get("type") == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _too_big(upload, limit)
                if upload and not counted:
                    self.ledger.take(address, len(message.get("body", b"")))
            return message
        try:
            return await self.app(scope, bounded_receive, send)
        except Refused as e:
            return await _refuse(send, e, address, path)


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_big(upload: bool, limit: int) -> Refused:
    if upload:
        return Refused(413, f"That upload is larger than this server takes in one go ({limit / 2**20:.0f} MB); "
                            "send fewer or smaller files.")
    return Refused(413, f"That request is larger than any form on this page sends ({limit // 1024} KB); "
                        "it was not read.")


async def _refuse(send, e: Refused, address: str, path: str) -> None:
    log.warning("refused a request from %s to %s: %s", address, path[:200], e.sentence)
    body = e.sentence.encode()
    try:
        await send({"type": "http.response.start", "status": e.status,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
    except Exception:                                   # the response had already started: nothing to add
        pass


def gate_middleware(max_upload: int, upload_quota: int, upload_total: int):
    """The starlette Middleware entry for FastAPI(middleware=[...])."""
    from starlette.middleware import Middleware
    return Middleware(Gate, max_upload=max_upload, ledger=UploadLedger(upload_quota, upload_total))


_installed = False


def install_log_bounds() -> None:
    """Cut every log record's message to LOG_CHARS, whichever logger or handler it goes to (uvicorn's and
    Gradio's included): the record factory itself bounds the text as the record is made."""
    global _installed
    if _installed:
        return
    make = logging.getLogRecordFactory()

    def bounded(*args, **kwargs) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            text = record.getMessage()
        except Exception:                               # a malformed record: leave it to logging's own report
            return record
        if len(text) > LOG_CHARS:
            record.msg, record.args = text[:LOG_CHARS] + f" … [{len(text) - LOG_CHARS:,} more characters]", None
        return record
    logging.setLogRecordFactory(bounded)
    _installed = True
