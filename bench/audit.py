"""What the audit log costs: the time one ``record()`` adds to a transaction on PostgreSQL, and the
viewer's query time over a million events.

    FASTAPP_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
    uv run python bench/audit.py [--events 1000000] [--transactions 2000] [--quick]

Creates a throwaway database, migrates it with ``fastapp db upgrade`` and works in-process on the
app's own runtime (``new_runtime``/``start``), in this order:

1. fills ``audit_events`` with ``--events`` valid, chained events (a realistic mix of actions,
   actors, IPs, outcomes and targets over 400 days), hashed with the chain's own functions and
   written with COPY; the chain's head row then names the last one, and VACUUM (ANALYZE) runs;
2. times the viewer's ``queries.page()`` for the unfiltered first page, a deep page and each
   filter, and prints ``EXPLAIN (ANALYZE, BUFFERS)`` for any case whose median is over 50 ms;
3. times small transactions (one UPDATE of a scratch row) without and with one ``record()``,
   alternating the two, then eight concurrent writers (appends serialise on the chain's head row);
4. checks the whole chain with ``services.verify()`` (which also proves the generated events valid).

Targets on a 2-core machine: recording adds under 2 ms (median); the first page and any filtered
page take under 50 ms. ``--quick`` is a small smoke run. Results are appended to
``bench/results/audit.jsonl``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from api_me import migrated_database
from http_baseline import HERE
from sqlalchemy import select, text

RESULTS = HERE / "results" / "audit.jsonl"
TARGET_RECORD_MS = 2.0
TARGET_QUERY_MS = 50.0
PAGE = 50
SITE_URL = "http://127.0.0.1:5001"

# The columns of audit_events, in the order the generated records carry them.
COLUMNS = (
    "seq",
    "occurred_at",
    "actor_type",
    "actor_id",
    "action",
    "target_type",
    "target_id",
    "outcome",
    "request_id",
    "data",
    "actor_label",
    "ip",
    "user_agent",
    "personal",
    "erased_at",
    "pii_digest",
    "prev_hash",
    "hash",
)

# Relative frequency of each action (auth.* is about 60 %); failures make about 15 % of events.
WEIGHTS = {
    "auth.sign_in.succeeded": 28.0,
    "auth.sign_in.failed": 10.0,
    "auth.sign_in.rate_limited": 1.5,
    "auth.sign_out": 9.0,
    "auth.sign_up": 1.5,
    "auth.email.verified": 1.4,
    "auth.email.change_requested": 0.3,
    "auth.email.changed": 0.25,
    "auth.password.changed": 0.8,
    "auth.password.reset_requested": 1.0,
    "auth.password.reset": 0.6,
    "auth.reauthenticated": 2.5,
    "auth.mfa.enabled": 0.3,
    "auth.mfa.disabled": 0.05,
    "auth.mfa.failed": 2.0,
    "auth.mfa.recovery_code_used": 0.1,
    "session.revoked": 6.0,
    "session.refresh_reused": 0.3,
    "token.created": 3.0,
    "token.revoked": 2.0,
    "user.created": 0.2,
    "user.role.changed": 0.3,
    "role.created": 0.02,
    "admin.user.viewed": 28.0,
    "audit.exported": 0.3,
}
FAILING = {"auth.sign_in.failed", "auth.sign_in.rate_limited", "auth.mfa.failed", "session.refresh_reused"}
DATA = {
    "auth.sign_in.succeeded": ['{"method":"password"}', '{"method":"password","mfa":true}'],
    "auth.sign_in.failed": ['{"reason":"password"}', '{"reason":"unknown_email"}', '{"reason":"mfa"}'],
    "token.created": ['{"name":"ci","scopes":[]}', '{"name":"deploy","scopes":["users:read"]}'],
    "user.role.changed": ['{"after":"admin","before":"member"}', '{"after":"member","before":"admin"}'],
    "role.created": ['{"name":"auditor","permissions":["audit:read"]}'],
    "audit.exported": ['{"count":1200,"format":"csv"}'],
}
AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0 Safari/537.36",
    "python-httpx/0.28.1",
    "curl/8.14.1",
)


@dataclass(slots=True)
class Event:
    """A row as the chain functions see it (``ChainedEvent``)."""

    seq: int
    occurred_at: datetime
    actor_type: str
    actor_id: str | None
    action: str
    target_type: str | None
    target_id: str | None
    outcome: str
    request_id: str | None
    data: str
    actor_label: str | None
    ip: str | None
    user_agent: str | None
    personal: str | None
    erased_at: datetime | None
    pii_digest: str
    prev_hash: str
    hash: str


class Population:
    """Who acts and from where: ~5,000 users, ~200 IPs, a pool of sessions and tokens."""

    def __init__(self, rng: random.Random, users: int = 5000, ips: int = 200) -> None:
        self.user_ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(users)]
        self.emails = [f"user{i}@example.com" for i in range(users)]
        nets = ("192.0.2", "198.51.100", "203.0.113")  # documentation ranges
        self.ips = [f"{nets[i % 3]}.{i // 3 + 1}" for i in range(ips)]
        self.sessions = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(20_000)]
        self.tokens = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(3_000)]


def generate(
    rng: random.Random,
    people: Population,
    key: bytes,
    *,
    first_seq: int,
    count: int,
    prev_hash: str,
    start: datetime,
    step_us: float,
) -> tuple[list[tuple[Any, ...]], str]:
    """``count`` chained events from ``first_seq`` on (records in ``COLUMNS`` order) and the last hash."""
    from fastapp.audit.chain import event_hash, personal_digest

    actions = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()), k=count)
    users = len(people.user_ids)
    rows: list[tuple[Any, ...]] = []
    for offset, action in enumerate(actions):
        seq = first_seq + offset
        who = rng.randrange(users)
        actor_type, actor_id, label = "user", people.user_ids[who], people.emails[who]
        personal = None
        outcome = "failure" if action in FAILING or rng.random() < 0.012 else "success"
        target_type, target_id = "user", actor_id
        if action == "auth.sign_in.failed" and rng.random() < 0.4:  # an email nobody has
            actor_type, actor_id, label = "anonymous", None, None
            personal = f'{{"email":"nobody{rng.randrange(50_000)}@example.net"}}'
            target_type = target_id = None
        elif action in ("auth.sign_out", "session.revoked", "session.refresh_reused"):
            target_type, target_id = "session", rng.choice(people.sessions)
        elif action.startswith("token."):
            target_type, target_id = "token", rng.choice(people.tokens)
        elif action in ("admin.user.viewed", "user.role.changed", "user.created"):
            target_id = people.user_ids[rng.randrange(users)]
            if action == "user.created":
                actor_type, actor_id, label = "system", "cli", None
        elif action == "role.created":
            target_type, target_id = "role", f"role-{seq}"
        elif action == "audit.exported":
            target_type = target_id = None
        if actor_type == "user" and action.startswith(("admin.", "token.")) and rng.random() < 0.1:
            actor_type, actor_id = "token", rng.choice(people.tokens)
        variants = DATA.get(action)
        ip = rng.choice(people.ips) if actor_type != "system" else None
        agent = rng.choice(AGENTS) if ip else None
        event = Event(
            seq=seq,
            occurred_at=start + timedelta(microseconds=int(seq * step_us)),
            actor_type=actor_type,
            actor_id=actor_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            outcome=outcome,
            request_id=f"{rng.getrandbits(128):032x}",
            data=rng.choice(variants) if variants else "{}",
            actor_label=label,
            ip=ip,
            user_agent=agent,
            personal=personal,
            erased_at=None,
            pii_digest=personal_digest(key, actor_label=label, ip=ip, user_agent=agent, personal=personal),
            prev_hash=prev_hash,
            hash="",
        )
        event.hash = prev_hash = event_hash(event)
        rows.append(tuple(getattr(event, name) for name in COLUMNS))
    return rows, prev_hash


async def fill(dsn: str, key: bytes, count: int, people: Population, rng: random.Random) -> dict[str, Any]:
    """Append ``count`` events after the chain's head with COPY; generation overlaps the previous copy."""
    conn = await asyncpg.connect(dsn)
    try:
        head_seq, head_hash = await conn.fetchrow("SELECT seq, hash FROM audit_head WHERE id = 1")
        end = datetime.now(UTC) - timedelta(hours=1)
        start = end - timedelta(days=400)
        step_us = 400 * 86_400 * 1_000_000 / max(count + head_seq, 1)
        began = time.perf_counter()
        copying: asyncio.Task[str] | None = None
        seq, prev, batch = head_seq + 1, head_hash, 50_000
        while seq <= head_seq + count:
            n = min(batch, head_seq + count - seq + 1)
            rows, prev = await asyncio.to_thread(
                generate, rng, people, key, first_seq=seq, count=n, prev_hash=prev, start=start, step_us=step_us
            )
            if copying is not None:
                await copying
            copying = asyncio.create_task(conn.copy_records_to_table("audit_events", records=rows, columns=COLUMNS))
            seq += n
        if copying is not None:
            await copying
        await conn.execute("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", seq - 1, prev)
        filled = time.perf_counter() - began
        # As autovacuum would have by now on a table this old: statistics, visibility map, hint bits.
        await conn.execute("VACUUM (ANALYZE) audit_events")
        size = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size('audit_events'))")
        return {
            "seconds": round(filled, 1),
            "events_per_s": round(count / filled),
            "vacuum_analyze_s": round(time.perf_counter() - began - filled, 1),
            "table_size": size,
            "start": start,
            "step_us": step_us,
        }
    finally:
        await conn.close()


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_ms": round(statistics.median(ordered), 3), "p95_ms": round(p95, 3), "n": len(ordered)}


async def timed(action: Callable[[], Awaitable[object]]) -> float:
    began = time.perf_counter()
    await action()
    return (time.perf_counter() - began) * 1000


async def queries(runtime: Any, cases: dict[str, tuple[Any, int | None]], repeats: int) -> dict[str, dict[str, Any]]:
    """Median/p95 of ``page()`` per case; EXPLAIN ANALYZE for the ones over target."""
    from fastapp.audit.models import AuditEvent
    from fastapp.audit.queries import page

    db = runtime.backends.db
    results: dict[str, dict[str, Any]] = {}
    for name, (f, before) in cases.items():
        samples: list[float] = []
        runs, attempt, found = repeats + 2, 0, 0  # the first two are warm-ups
        while attempt < runs:
            async with db.transaction() as session:
                began = time.perf_counter()
                rows, _cursor = await page(session, f, before=before, limit=PAGE)
                elapsed = (time.perf_counter() - began) * 1000
            found = len(rows)
            if attempt >= 2:
                samples.append(elapsed)
            elif elapsed > 1000:  # very slow: a few samples say enough
                runs = min(runs, 7)
            attempt += 1
        results[name] = {**summary(samples), "rows": found}
        print(f"  {name:<34}{results[name]['median_ms']:>9.2f} ms median", flush=True)
        if results[name]["median_ms"] > TARGET_QUERY_MS:
            query = select(AuditEvent).where(*f.conditions())
            if before is not None:
                query = query.where(AuditEvent.seq < before)
            query = query.order_by(AuditEvent.seq.desc()).limit(PAGE + 1)
            async with db.transaction() as session:
                sql = str(query.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}))
                conn = await session.connection()
                plan = (await conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql)).scalars().all()
            results[name]["explain"] = {"sql": sql, "plan": list(plan)}
    return results


async def recording(runtime: Any, transactions: int, concurrency: int) -> dict[str, Any]:
    """Transactions updating one scratch row, without and with one ``record()``, then concurrent writers."""
    from fastapp.audit import Action, Actor, record
    from fastapp.platform.context import open_context

    db = runtime.backends.db
    async with db.transaction() as session:
        await session.execute(text("CREATE TABLE bench_items (id integer PRIMARY KEY, n bigint NOT NULL)"))
        await session.execute(text("INSERT INTO bench_items SELECT g, 0 FROM generate_series(1, 1000) g"))
    change = text("UPDATE bench_items SET n = n + 1 WHERE id = :id")
    actor = Actor.user(uuid.uuid4(), "bench@example.com")
    rng = random.Random(7)
    calls: list[float] = []  # time inside record() and its flush, before the commit

    async def plain() -> None:
        async with open_context(runtime, request_id="bench", ip="203.0.113.7", user_agent="bench/1.0") as ctx:
            await ctx.session.execute(change, {"id": rng.randint(1, 1000)})

    async def audited() -> None:
        async with open_context(runtime, request_id="bench", ip="203.0.113.7", user_agent="bench/1.0") as ctx:
            await ctx.session.execute(change, {"id": rng.randint(1, 1000)})
            began = time.perf_counter()
            await record(
                ctx,
                Action.TOKEN_CREATED,
                target=("token", uuid.uuid4()),
                data={"name": "ci", "scopes": []},
                actor=actor,
            )
            await ctx.session.flush()
            calls.append((time.perf_counter() - began) * 1000)

    kinds = {"plain": plain, "audited": audited}
    samples: dict[str, list[float]] = {"plain": [], "audited": []}
    for i in range(transactions + 200):  # 200 warm-up pairs; each pair in random order
        for kind in rng.sample(list(kinds), 2):
            elapsed = await timed(kinds[kind])
            if i >= 200:
                samples[kind].append(elapsed)
    result: dict[str, Any] = {"transactions": transactions, **{k: summary(v) for k, v in samples.items()}}
    result["added_median_ms"] = round(result["audited"]["median_ms"] - result["plain"]["median_ms"], 3)
    result["added_p95_ms"] = round(result["audited"]["p95_ms"] - result["plain"]["p95_ms"], 3)
    result["record_call"] = summary(calls[200:])

    each = max(transactions // concurrency, 50)
    for kind, work in kinds.items():
        latencies: list[float] = []

        async def writer(work: Callable[[], Awaitable[None]] = work, latencies: list[float] = latencies) -> None:
            for _ in range(each):
                latencies.append(await timed(work))

        began = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(concurrency)))
        wall = time.perf_counter() - began
        result[f"concurrent_{kind}"] = {
            "tasks": concurrency,
            "transactions_per_s": round(len(latencies) / wall),
            **summary(latencies),
        }
    return result


async def verify_chain(runtime: Any) -> dict[str, Any]:
    from fastapp.audit.chain import derive_key
    from fastapp.audit.services import verify

    key = derive_key(runtime.config.app.secret_key.get_secret_value())
    async with runtime.backends.db.transaction() as session:
        began = time.perf_counter()
        outcome = await verify(session, key)
        seconds = time.perf_counter() - began
    return {
        "ok": outcome.ok,
        "checked": outcome.checked,
        "problem": outcome.problem,
        "seconds": round(seconds, 1),
        "events_per_s": round(outcome.checked / seconds),
    }


async def run(dsn: str, events: int, transactions: int, repeats: int) -> dict[str, Any]:
    from fastapp.app import new_runtime, start, stop
    from fastapp.audit.chain import derive_key
    from fastapp.audit.queries import EventFilter
    from fastapp.config import load_config

    config = load_config()
    runtime = new_runtime(config)
    await start(runtime)
    try:
        rng = random.Random(2026)
        people = Population(rng)
        key = derive_key(config.app.secret_key.get_secret_value())
        print(f"generating and copying {events:,} events ...", flush=True)
        filled = await fill(dsn, key, events, people, rng)
        print(f"  {filled['seconds']} s ({filled['events_per_s']:,} events/s), {filled['table_size']}", flush=True)
        start_at: datetime = filled.pop("start")
        step = timedelta(microseconds=filled.pop("step_us"))
        mid_since, mid_until = start_at + step * (events * 45 // 100), start_at + step * (events * 52 // 100)
        one = 42  # an ordinary user: ~1/5,000 of the events as actor, more as a target
        cases: dict[str, tuple[Any, int | None]] = {
            "first page": (EventFilter(), None),
            "deep page (seq < 10 %)": (EventFilter(), max(events // 10, 2)),
            "action role.created (rare)": (EventFilter(action="role.created"), None),
            "action prefix auth.": (EventFilter(action="auth."), None),
            "actor id": (EventFilter(actor=people.user_ids[one]), None),
            "actor email": (EventFilter(actor=people.emails[one].upper()), None),
            "target user:<id>": (EventFilter(target=f"user:{people.user_ids[one]}"), None),
            "target <id> (bare id)": (EventFilter(target=people.user_ids[one]), None),
            "outcome failure": (EventFilter(outcome="failure"), None),
            "ip": (EventFilter(ip=people.ips[17]), None),
            "date range (middle, ~4 weeks)": (EventFilter(since=mid_since, until=mid_until), None),
            "date range (oldest week)": (EventFilter(since=start_at, until=start_at + timedelta(days=7)), None),
            "auth. + failure + date range": (
                EventFilter(action="auth.", outcome="failure", since=mid_since, until=mid_until),
                None,
            ),
            "actor id + date range": (EventFilter(actor=people.user_ids[one], since=mid_since, until=mid_until), None),
        }
        print(f"viewer queries ({repeats} runs each, {PAGE} per page) ...", flush=True)
        query_results = await queries(runtime, cases, repeats)
        print(f"recording cost ({transactions} transactions of each kind) ...", flush=True)
        record_results = await recording(runtime, transactions, 8)
        print("verifying the chain ...", flush=True)
        verified = await verify_chain(runtime)
    finally:
        await stop(runtime)
    return {"generation": filled, "queries": query_results, "recording": record_results, "verify": verified}


def show(results: dict[str, Any]) -> None:
    rec = results["recording"]
    print()
    print(f"{'recording (one transaction)':<36}{'median ms':>11}{'p95 ms':>10}")
    for kind in ("plain", "audited"):
        print(f"{kind:<36}{rec[kind]['median_ms']:>11.2f}{rec[kind]['p95_ms']:>10.2f}")
    print(f"{'added by record()':<36}{rec['added_median_ms']:>11.2f}{rec['added_p95_ms']:>10.2f}")
    call = rec["record_call"]
    print(f"{'  of which record() + flush':<36}{call['median_ms']:>11.2f}{call['p95_ms']:>10.2f}")
    for kind in ("plain", "audited"):
        c = rec[f"concurrent_{kind}"]
        label = f"{c['tasks']} concurrent, {kind}"
        print(f"{label:<36}{c['median_ms']:>11.2f}{c['p95_ms']:>10.2f}   {c['transactions_per_s']} tx/s")
    print()
    print(f"{'viewer query':<36}{'median ms':>11}{'p95 ms':>10}{'rows':>6}")
    for name, q in results["queries"].items():
        flag = "" if q["median_ms"] <= TARGET_QUERY_MS else "  over target"
        print(f"{name:<36}{q['median_ms']:>11.2f}{q['p95_ms']:>10.2f}{q['rows']:>6}{flag}")
    for name, q in results["queries"].items():
        if "explain" in q:
            print(f"\nEXPLAIN (ANALYZE, BUFFERS) for {name}:\n{q['explain']['sql']}")
            print("\n".join(q["explain"]["plan"]))
    g, v = results["generation"], results["verify"]
    print()
    print(f"generation: {results['events']:,} events in {g['seconds']} s ({g['events_per_s']:,}/s), {g['table_size']}")
    problem = v["problem"] or ""
    print(f"verify: ok={v['ok']} {v['checked']:,} events in {v['seconds']} s ({v['events_per_s']:,}/s) {problem}")
    for target, met in results["targets"].items():
        print(f"target {target}: {'met' if met else 'NOT met'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--transactions", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="20,000 events, 300 transactions, 10 repeats")
    args = parser.parse_args()
    if args.quick:
        args.events, args.transactions, args.repeats = 20_000, 300, 10
    began = time.perf_counter()
    with migrated_database(SITE_URL) as dsn:
        results = asyncio.run(run(dsn, args.events, args.transactions, args.repeats))

    rec = results["recording"]
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "events": args.events,
        "repeats": args.repeats,
        **results,
        "targets": {
            f"recording adds < {TARGET_RECORD_MS:g} ms (median)": rec["added_median_ms"] < TARGET_RECORD_MS,
            f"every page < {TARGET_QUERY_MS:g} ms (median)": all(
                q["median_ms"] < TARGET_QUERY_MS for q in results["queries"].values()
            ),
        },
        "total_s": round(time.perf_counter() - began, 1),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    with RESULTS.open("a") as out:
        out.write(json.dumps(results) + "\n")
    show(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
