"""The hash chain: canonical serialization, the keyed digest of personal fields, and checking.

Each event's hash is SHA-256 over the previous event's hash and the event's canonical JSON. The
personal fields (actor label, IP, user agent, personal details) enter only as an HMAC digest,
so erasure can blank them later and the chain still verifies; while they are present, checking
recomputes the digest, so altering them is detected too. The HMAC key derives from the app's
secret key: rotating that key leaves the chain verifiable but turns the personal-field check of
older events into "cannot check" (reported as altered), so keep ``FASTAPP_SECRET_KEY`` stable.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

GENESIS = "0" * 64


def canonical_json(value: Mapping[str, Any]) -> str:
    """One text for one value: sorted keys, no spaces, UTF-8 as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def derive_key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), b"fastapp.audit.personal", hashlib.sha256).digest()


class ChainedEvent(Protocol):
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


def personal_digest(
    key: bytes, *, actor_label: str | None, ip: str | None, user_agent: str | None, personal: str | None
) -> str:
    fields = {"actor_label": actor_label, "ip": ip, "user_agent": user_agent, "personal": personal}
    return hmac.new(key, canonical_json(fields).encode(), hashlib.sha256).hexdigest()


def event_hash(event: ChainedEvent) -> str:
    core = {
        "seq": event.seq,
        "occurred_at": event.occurred_at.isoformat(),
        "actor": [event.actor_type, event.actor_id],
        "action": event.action,
        "target": [event.target_type, event.target_id],
        "outcome": event.outcome,
        "request_id": event.request_id,
        "data": event.data,
        "pii_digest": event.pii_digest,
    }
    return hashlib.sha256((event.prev_hash + "\n" + canonical_json(core)).encode()).hexdigest()


@dataclass
class ChainCheck:
    """Walks events in ``seq`` order and remembers the first problem."""

    key: bytes
    expected_prev: str | None = None
    expected_seq: int | None = None
    checked: int = 0
    problem: str | None = None
    last_seq: int = 0
    last_hash: str = GENESIS

    def start(self, first_seq: int, anchor: str | None) -> None:
        """``anchor`` is the hash the first event must follow: GENESIS for #1, a checkpoint's
        recorded hash after a purge, or None when nothing accounts for the missing start."""
        self.expected_seq = first_seq
        if anchor is None:
            self.problem = f"events before #{first_seq} are missing and no purge checkpoint accounts for them"
        self.expected_prev = anchor

    def feed(self, events: Iterable[ChainedEvent]) -> bool:
        """Check ``events``; False once a problem is found (``problem`` says which)."""
        for event in events:
            if self.problem is not None:
                return False
            if event.seq != self.expected_seq:
                self.problem = f"event #{self.expected_seq} is missing (the next is #{event.seq})"
                return False
            if event.prev_hash != self.expected_prev:
                self.problem = f"event #{event.seq} does not follow #{event.seq - 1}: the link is broken"
                return False
            if event_hash(event) != event.hash:
                self.problem = f"event #{event.seq} was altered: its hash does not match its contents"
                return False
            if event.erased_at is None:
                digest = personal_digest(
                    self.key,
                    actor_label=event.actor_label,
                    ip=event.ip,
                    user_agent=event.user_agent,
                    personal=event.personal,
                )
                if not hmac.compare_digest(digest, event.pii_digest):
                    self.problem = f"event #{event.seq} was altered: its personal fields do not match their digest"
                    return False
            self.expected_prev = event.hash
            self.expected_seq = event.seq + 1
            self.last_seq, self.last_hash = event.seq, event.hash
            self.checked += 1
        return self.problem is None

    def finish(self, head_seq: int, head_hash: str) -> None:
        """The head names the newest event ever appended: anything after the last one seen is gone."""
        if self.problem is None and (head_seq, head_hash) != (self.last_seq, self.last_hash):
            self.problem = (
                f"the newest events are missing: the chain's head is #{head_seq}, the last event #{self.last_seq}"
            )
