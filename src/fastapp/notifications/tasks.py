"""The daily digest: a schedule fans out one job per user, each sending that user's digest.

One job per user keeps each digest in a transaction of its own (a failing address retries
alone), and its idempotency key, user and day, makes it one digest per user per day however
often the fan-out runs.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapp.notifications import services
from fastapp.platform.context import Context, Runtime
from fastapp.platform.jobs import Schedule, enqueue

DIGEST_JOB = "notifications.digest"
USER_DIGEST_JOB = "notifications.digest.user"
#: Every day at 07:00 UTC.
DIGEST_SCHEDULE = Schedule("notifications.digest", "0 7 * * *", DIGEST_JOB)


def digest_key(user_id: uuid.UUID, day: str) -> str:
    return f"notifications.digest:{user_id}:{day}"


async def fan_out_digests(_runtime: Runtime, ctx: Context, _payload: dict[str, Any]) -> None:
    """The ``notifications.digest`` job: a ``notifications.digest.user`` job for each user with
    notifications waiting for their digest, at most one per user and UTC day."""
    day = ctx.clock.now().date().isoformat()
    for user_id in await services.users_awaiting_digest(ctx):
        await enqueue(ctx, USER_DIGEST_JOB, {"user": str(user_id)}, idempotency_key=digest_key(user_id, day))


async def send_user_digest(_runtime: Runtime, ctx: Context, payload: dict[str, Any]) -> None:
    """The ``notifications.digest.user`` job: queue one user's digest mail."""
    await services.send_digest(ctx, uuid.UUID(payload["user"]))
