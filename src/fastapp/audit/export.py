"""Streaming the filtered audit events as CSV or JSON Lines, newest first, in flat memory."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Sequence

from fastapp.audit.actions import Action
from fastapp.audit.queries import EventFilter, event_record, stream
from fastapp.audit.services import record
from fastapp.platform.context import Context, Runtime

FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
CSV_COLUMNS = [
    "seq",
    "occurred_at",
    "action",
    "outcome",
    "actor_type",
    "actor_id",
    "actor_label",
    "target_type",
    "target_id",
    "ip",
    "user_agent",
    "request_id",
    "data",
    "personal",
    "hash",
]


async def record_export(ctx: Context, f: EventFilter, fmt: str) -> None:
    """Exports of audit data are themselves audited (before the first byte leaves)."""
    await record(ctx, Action.AUDIT_EXPORTED, data={"format": fmt, "filter": f.as_query()})


async def lines(runtime: Runtime, f: EventFilter, fmt: str) -> AsyncIterator[bytes]:
    """The export body, one event per line, read in keyset batches in its own transaction."""
    if fmt == "csv":
        yield _csv_row(CSV_COLUMNS)
    async with runtime.backends.db.transaction() as session:
        async for event in stream(session, f):
            item = event_record(event)
            if fmt == "jsonl":
                yield json.dumps(item, ensure_ascii=False).encode() + b"\n"
            else:
                actor, target = item["actor"], item["target"]
                yield _csv_row(
                    [
                        item["seq"],
                        item["occurred_at"],
                        item["action"],
                        item["outcome"],
                        actor["type"],
                        actor["id"],
                        actor["label"],
                        target["type"],
                        target["id"],
                        item["ip"],
                        item["user_agent"],
                        item["request_id"],
                        json.dumps(item["data"], ensure_ascii=False),
                        json.dumps(item["personal"], ensure_ascii=False) if item["personal"] else "",
                        item["hash"],
                    ]
                )


def _csv_row(values: Sequence[object]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerow(["" if v is None else _defuse(str(v)) for v in values])
    return out.getvalue().encode()


def _defuse(text: str) -> str:
    """Spreadsheets run cells that start with = + - @ as formulas: prefix those with a quote."""
    return "'" + text if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text
