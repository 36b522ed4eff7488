"""What the privacy domain itself keeps about a user, for exports and erasure.

Data exports (their metadata; the ZIP is the export itself, deleted from storage on erasure),
erasure requests, consent records and policy acceptances. Erasure requests stay after an erasure:
they hold no personal data beyond the (anonymized) user's id, and they are the proof that the
erasure happened. Consent records and acceptances are deleted with the account they belong to.

``policy_versions.published_by`` is exempt: it names the administrator who published a policy,
the organisation's own record of its published terms, and after that administrator's erasure it
points at the anonymized "Deleted user" row.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select

from fastapp.files.scanning import delete_after_commit
from fastapp.platform.context import Context
from fastapp.platform.privacy import ErasureSubject, ExportedData, PersonalData, delete_user_rows
from fastapp.platform.registry import Registry
from fastapp.privacy.models import ConsentRecord, DataExport, ErasureRequest, PolicyAcceptance, PolicyVersion

ERASE_ORDER = 10

EXEMPT = {
    "policy_versions": (
        "published_by names the administrator who published a policy version: the organisation's "
        "record of its own published terms, not data about the administrator; after their erasure it "
        "points at the anonymized user row."
    ),
}


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def export_privacy(ctx: Context, user_id: uuid.UUID) -> ExportedData:
    session = ctx.session
    exports = (
        await session.scalars(select(DataExport).where(DataExport.user_id == user_id).order_by(DataExport.requested_at))
    ).all()
    erasures = (
        await session.scalars(
            select(ErasureRequest).where(ErasureRequest.user_id == user_id).order_by(ErasureRequest.requested_at)
        )
    ).all()
    consents = (
        await session.scalars(
            select(ConsentRecord).where(ConsentRecord.user_id == user_id).order_by(ConsentRecord.created_at)
        )
    ).all()
    acceptances = (
        await session.execute(
            select(PolicyVersion.kind, PolicyVersion.version, PolicyAcceptance.accepted_at, PolicyAcceptance.source)
            .join(PolicyVersion, PolicyVersion.id == PolicyAcceptance.policy_id)
            .where(PolicyAcceptance.user_id == user_id)
            .order_by(PolicyAcceptance.accepted_at)
        )
    ).all()
    return ExportedData(
        records={
            "data_exports": [
                {
                    "status": e.status,
                    "requested_at": _when(e.requested_at),
                    "finished_at": _when(e.finished_at),
                    "expires_at": _when(e.expires_at),
                    "size_bytes": e.size_bytes,
                    "download_count": e.download_count,
                }
                for e in exports
            ],
            "erasure_requests": [
                {
                    "status": r.status,
                    "requested_at": _when(r.requested_at),
                    "due_at": _when(r.due_at),
                    "cancelled_at": _when(r.cancelled_at),
                    "completed_at": _when(r.completed_at),
                }
                for r in erasures
            ],
            "consent": [
                {
                    "purpose": c.purpose,
                    "granted": c.granted,
                    "at": _when(c.created_at),
                    "policy_version": c.policy_version,
                    "source": c.source,
                }
                for c in consents
            ],
            "policy_acceptances": [
                {"kind": kind, "version": version, "accepted_at": _when(at), "source": source}
                for kind, version, at, source in acceptances
            ],
        }
    )


async def erase_privacy(ctx: Context, subject: ErasureSubject) -> int:
    """Delete consent records, acceptances and data exports (their ZIPs after the commit)."""
    session = ctx.session
    zips = [
        key
        for key in (
            await session.scalars(select(DataExport.storage_key).where(DataExport.user_id == subject.user_id))
        ).all()
        if key
    ]
    changed = await delete_user_rows(
        ctx, subject.user_id, ConsentRecord.user_id, PolicyAcceptance.user_id, DataExport.user_id
    )
    delete_after_commit(ctx, zips)
    return changed


def register(registry: Registry) -> None:
    registry.add_personal_data(
        PersonalData(
            key="privacy",
            label="Privacy",
            description="Your data export requests, account deletion requests, consent decisions (purpose, "
            "granted or withdrawn, when, policy version, where) and the policy versions you accepted.",
            legal_basis="Legal obligation (Art. 6(1)(c)): records of consent and of requests about your data.",
            retention="Until you delete your account; deletion requests are kept as proof of the erasure. "
            "Export files expire after FASTAPP_PRIVACY_EXPORT_LINK_DAYS.",
            tables=("privacy_exports", "privacy_erasures", "consent_records", "policy_acceptances"),
            export=export_privacy,
            erase=erase_privacy,
            erase_order=ERASE_ORDER,
        )
    )
    registry.personal_data_exempt.update(EXEMPT)
