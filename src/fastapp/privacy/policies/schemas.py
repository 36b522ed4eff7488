"""API input and output models of policy versions and acceptances."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from fastapp.privacy.models import PolicyAcceptance, PolicyVersion


class PolicyOut(BaseModel):
    id: uuid.UUID
    #: ``privacy`` or ``terms``.
    kind: str
    version: str
    title: str
    effective_at: datetime
    #: The page showing this version's text.
    url: str

    @classmethod
    def of(cls, row: PolicyVersion, site_url: str) -> PolicyOut:
        return cls(
            id=row.id,
            kind=row.kind,
            version=row.version,
            title=row.title,
            effective_at=row.effective_at,
            url=f"{site_url.rstrip('/')}/policies/{row.kind}/{row.version}",
        )


class AcceptanceOut(BaseModel):
    policy: PolicyOut
    accepted_at: datetime
    #: ``sign-up``, ``page`` or ``api``.
    source: str

    @classmethod
    def of(cls, acceptance: PolicyAcceptance, version: PolicyVersion, site_url: str) -> AcceptanceOut:
        return cls(policy=PolicyOut.of(version, site_url), accepted_at=acceptance.accepted_at, source=acceptance.source)


class MyPoliciesOut(BaseModel):
    #: Every version the user accepted, newest first.
    accepted: list[AcceptanceOut]
    #: Current versions the user has not accepted: until they are, other API calls answer 403
    #: ``policy-acceptance-required``.
    pending: list[PolicyOut]


class AcceptIn(BaseModel):
    policy_ids: list[uuid.UUID] = Field(
        min_length=1,
        max_length=10,
        description="Ids of the current versions to accept (from `GET /api/v1/policies` or the 403 problem).",
    )
