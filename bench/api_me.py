"""Authenticated ``GET /api/v1/me`` on one worker with PostgreSQL and Redis, the session
revocation check live, beside a bare Starlette endpoint and a FastAPI hello-world in one run.

    FASTAPP_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
    FASTAPP_BENCH_REDIS_URL=redis://127.0.0.1:6379/0 \\
    uv run python bench/api_me.py [--seconds 10] [--connections 32]

Creates a throwaway database, an owner account and an access token, then measures with wrk.
Target on a 2-core machine: at least half the FastAPI hello-world's req/s with p99 under 10 ms.
Results are appended to ``bench/results/api_me.jsonl``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from http_baseline import HERE, free_port, measure_reference, report, server, wrk
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

PASSWORD = "benchmark passphrase with words 7"
RESULTS = HERE / "results" / "api_me.jsonl"


async def admin(url: str, sql: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@contextmanager
def migrated_database(site_url: str, **settings: str) -> Iterator[str]:
    """A throwaway PostgreSQL database at head for one benchmark run; yields its plain DSN.

    This process's environment is set up as ``fastapp`` reads it (every other ``FASTAPP_*``
    variable removed; ``settings`` added, e.g. ``FASTAPP_JOBS_IN_PROCESS="false"``), so
    ``load_config()`` and subprocesses see the same instance. The database is dropped afterwards.
    """
    pg = os.environ.get("FASTAPP_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    admin_url = make_url(pg).set(drivername="postgresql+asyncpg")
    name = f"fastapp_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(admin(admin_url.render_as_string(False), f'CREATE DATABASE "{name}"'))
    try:
        with tempfile.TemporaryDirectory() as var:
            for variable in [k for k in os.environ if k.startswith("FASTAPP_")]:
                del os.environ[variable]
            os.environ.update(
                FASTAPP_VAR_DIR=var,
                FASTAPP_SITE_URL=site_url,
                FASTAPP_DATABASE_URL=admin_url.set(database=name).render_as_string(False),
                **settings,
            )
            subprocess.run([sys.executable, "-m", "fastapp", "db", "upgrade"], env=dict(os.environ), check=True)
            yield make_url(pg).set(drivername="postgresql", database=name).render_as_string(False)
    finally:
        asyncio.run(admin(admin_url.render_as_string(False), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    pg = os.environ.get("FASTAPP_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    redis = os.environ.get("FASTAPP_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    admin_url = str(make_url(pg).set(drivername="postgresql+asyncpg"))
    name = f"fastapp_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(admin(admin_url, f'CREATE DATABASE "{name}"'))
    results: dict[str, dict[str, float]] = {}
    try:
        with tempfile.TemporaryDirectory() as var:
            port = free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith("FASTAPP_")}
            env.update(
                FASTAPP_VAR_DIR=var,
                FASTAPP_SITE_URL=f"http://127.0.0.1:{port}",
                FASTAPP_REDIS_URL=redis,
                FASTAPP_REDIS_PREFIX=f"{name}:",
                FASTAPP_DATABASE_URL=str(make_url(admin_url).set(database=name).render_as_string(False)),
            )
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "fastapp",
                    "users",
                    "create-admin",
                    "--email",
                    "bench@example.com",
                    "--password-stdin",
                ],
                input=PASSWORD + "\n",
                text=True,
                env=env,
                check=True,
                capture_output=True,
            )
            cmd = [sys.executable, "-m", "fastapp", "serve", "--port", str(port)]
            with server(cmd, env, f"http://127.0.0.1:{port}/healthz"):
                token = httpx.post(
                    f"http://127.0.0.1:{port}/api/v1/auth/token",
                    json={"email": "bench@example.com", "password": PASSWORD},
                ).json()
                header = f"Authorization: Bearer {token['access_token']}"
                me = httpx.get(f"http://127.0.0.1:{port}/api/v1/me", headers={"Authorization": header[15:]})
                assert me.status_code == 200, me.text
                results["fastapp_me"] = wrk(
                    f"http://127.0.0.1:{port}/api/v1/me", args.seconds, args.connections, header=header
                )
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("FASTAPP_")}
        for label, module in (("starlette_json", "bare_app:app"), ("fastapi_hello", "fastapi_app:app")):
            results[label] = measure_reference(module, base_env, args.seconds, args.connections)
    finally:
        asyncio.run(admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    report(results, "fastapi_hello", RESULTS, seconds=args.seconds, connections=args.connections)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
