"""Log lines Cloud Logging understands: one JSON object per line on stdout.

On a terminal the same records read as plain lines. Every line written while
a request is handled, including by its deferred work, carries that request's
trace, so Cloud Logging groups them under the request.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from contextvars import ContextVar
from typing import Any

# (trace id, span id) of the request being handled.
trace: ContextVar[tuple[str, str] | None] = ContextVar("trace", default=None)

TRACE_KEY = "logging.googleapis.com/trace"
SPAN_KEY = "logging.googleapis.com/spanId"

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
# The span id is a decimal uint64 (at most 20 ASCII digits); anything else there
# makes the header one we do not understand, and it is ignored.
_CLOUD_TRACE = re.compile(r"([0-9a-fA-F]{32})(?:/([0-9]{1,20}))?(?:;o=[0-9]+)?")
_SPAN_LIMIT = 2**64
# Slack response URLs are bearer credentials (a message shortcut's is under /app/);
# signatures are HMACs of our secret.
_RESPONSE_URL = re.compile(r"(https?://[^/\s\"']+)/(?:commands|actions|services|app)/[^\s\"']*")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
# json.dumps with these arguments would build this encoder for every line.
_JSON = json.JSONEncoder(ensure_ascii=False, default=str)


def parse_trace(headers: Any) -> tuple[str, str] | None:
    """The trace of a request from W3C `traceparent` or Google's `X-Cloud-Trace-Context`.

    Runs before the signature is checked, on headers anyone can send: a header
    that does not parse is ignored, never an error.
    """
    match = _TRACEPARENT.match(headers.get("traceparent", "").strip().lower())
    if match and match.group(1) != "0" * 32:
        return match.group(1), match.group(2)
    match = _CLOUD_TRACE.fullmatch(headers.get("x-cloud-trace-context", "").strip())
    if match is None or match.group(1) == "0" * 32:
        return None
    span = int(match.group(2)) if match.group(2) else 0
    if span >= _SPAN_LIMIT:
        return None
    return match.group(1).lower(), format(span, "016x") if span else ""


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    # Each pattern needs its marker: a line without one (most lines) skips its scan.
    if "://" in text:
        text = _RESPONSE_URL.sub(r"\1/…", text)
    if "v0=" in text:
        text = _SIGNATURE.sub("v0=[redacted]", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


class _Base(logging.Formatter):
    def __init__(self, project: str = "", secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.project = project
        self.secrets = secrets

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        fields = getattr(record, "fields", None)
        return dict(fields) if isinstance(fields, dict) else {}

    def text(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        return redact(message, self.secrets)


class JSONFormatter(_Base):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname,
            "message": self.text(record),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "logger": record.name,
        }
        current = trace.get()
        if current is not None:
            trace_id, span = current
            entry[TRACE_KEY] = (
                f"projects/{self.project}/traces/{trace_id}" if self.project else trace_id
            )
            if span:
                entry[SPAN_KEY] = span
        entry.update(self.fields(record))
        return redact(_JSON.encode(entry), self.secrets)


class TextFormatter(_Base):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        extra = " ".join(f"{k}={v}" for k, v in self.fields(record).items())
        line = f"{stamp} {record.levelname:<7} {self.text(record)}"
        return redact(f"{line}  {extra}" if extra else line, self.secrets)


def configure(
    *, json_lines: bool | None = None, project: str = "", secrets: tuple[str, ...] = ()
) -> None:
    """Send all logging (ours and uvicorn's) to stdout in one format."""
    if json_lines is None:
        json_lines = not sys.stdout.isatty()
    handler = logging.StreamHandler(sys.stdout)
    formatter = JSONFormatter if json_lines else TextFormatter
    handler.setFormatter(formatter(project=project, secrets=secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    # uvicorn.access is left as uvicorn set it: `chatbot serve` turns it off, in
    # favour of the one summary line per command.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # httpx logs every request at INFO, response_url included; failures are ours to log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
