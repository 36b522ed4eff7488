"""Structured logging: one JSON object per line on stderr (coloured console lines on request).

FastApp's own loggers are native structlog loggers rendering with orjson straight to stderr:
the request log line is written on every request, and going through the stdlib ``logging``
machinery would cost it about half of a minimal endpoint's throughput (bench/http_baseline.py).
Records of libraries that use stdlib logging (uvicorn, SQLAlchemy, Alembic) are rendered by the
same processors, so the output is one uniform stream.

The request line itself (``log_request``) skips even structlog's processor chain in JSON mode:
it is the one line written for every request, and the chain cost ~15 us of a ~130 us API call
(bench/README.md). It renders the same keys the chain would: event, level, UTC ISO timestamp and
the request id, which lives in one context variable (``REQUEST_ID``) rather than structlog's
per-key ones.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, BinaryIO, cast

import orjson
import structlog

_LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING, "ERROR": logging.ERROR}

REQUEST_ID: ContextVar[str | None] = ContextVar("fastapp.request_id", default=None)
"""The id of the request being handled, added to every log line written while it runs."""


def _add_request_id(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


def _dumps(event: Any, **_kw: Any) -> bytes:
    return orjson.dumps(event, default=str)


class _StderrBytes:
    """Whatever ``sys.stderr`` is at write time (test capture swaps it), as a binary file."""

    def write(self, data: bytes) -> int:
        stream = sys.stderr
        buffer = getattr(stream, "buffer", None)
        if buffer is None:
            return stream.write(data.decode())
        return int(buffer.write(data))

    def flush(self) -> None:
        sys.stderr.flush()


_STDERR = _StderrBytes()
_request_line = {"direct": False, "enabled": True}
_request_log = structlog.get_logger("fastapp.request")


def log_request(**fields: Any) -> None:
    """Write the request line (``event="request"``) with ``fields``, at INFO."""
    if _request_line["direct"]:
        fields["event"] = "request"
        fields["level"] = "info"
        fields["timestamp"] = datetime.now(UTC).isoformat()[:-6] + "Z"
        request_id = REQUEST_ID.get()
        if request_id is not None:
            fields["request_id"] = request_id
        _STDERR.write(orjson.dumps(fields, default=str) + b"\n")
        _STDERR.flush()
    elif _request_line["enabled"]:
        _request_log.info("request", **fields)


def configure_logging(*, level: str = "INFO", fmt: str = "json") -> None:
    """Route structlog and stdlib records through one processor chain to stderr."""
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        _add_request_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if fmt == "json":
        final: list[structlog.typing.Processor] = [
            structlog.processors.dict_tracebacks,
            structlog.processors.JSONRenderer(serializer=_dumps),
        ]
        factory: Any = structlog.BytesLoggerFactory(file=cast(BinaryIO, _STDERR))
    else:
        final = [structlog.dev.ConsoleRenderer()]
        factory = structlog.PrintLoggerFactory(file=sys.stderr)
    _request_line["enabled"] = _LEVELS[level] <= logging.INFO
    _request_line["direct"] = fmt == "json" and _request_line["enabled"]
    structlog.configure(
        processors=[*shared, *final],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=factory,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    stdlib_final = (
        [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()] if fmt == "json" else final
    )
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *stdlib_final],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log would repeat our request line.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
