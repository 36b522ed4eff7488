"""Every auditable action: one dotted name each, with the line the viewer shows for it."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    # authentication
    SIGN_IN_SUCCEEDED = "auth.sign_in.succeeded"
    SIGN_IN_FAILED = "auth.sign_in.failed"
    SIGN_IN_RATE_LIMITED = "auth.sign_in.rate_limited"
    SIGN_OUT = "auth.sign_out"
    SIGNED_UP = "auth.sign_up"
    EMAIL_VERIFIED = "auth.email.verified"
    EMAIL_CHANGE_REQUESTED = "auth.email.change_requested"
    EMAIL_CHANGED = "auth.email.changed"
    PASSWORD_CHANGED = "auth.password.changed"  # noqa: S105 - an action name, not a secret
    PASSWORD_RESET_REQUESTED = "auth.password.reset_requested"  # noqa: S105 - an action name, not a secret
    PASSWORD_RESET = "auth.password.reset"  # noqa: S105 - an action name, not a secret
    REAUTHENTICATED = "auth.reauthenticated"
    MFA_ENABLED = "auth.mfa.enabled"
    MFA_DISABLED = "auth.mfa.disabled"
    MFA_FAILED = "auth.mfa.failed"
    RECOVERY_CODE_USED = "auth.mfa.recovery_code_used"
    # sessions and tokens
    SESSION_REVOKED = "session.revoked"
    REFRESH_REUSED = "session.refresh_reused"
    TOKEN_CREATED = "token.created"  # noqa: S105 - an action name, not a secret
    TOKEN_REVOKED = "token.revoked"  # noqa: S105 - an action name, not a secret
    # administration
    USER_CREATED = "user.created"
    USER_ROLE_CHANGED = "user.role.changed"
    ROLE_CREATED = "role.created"
    ADMIN_USER_VIEWED = "admin.user.viewed"
    PROFILE_UPDATED = "user.profile.updated"
    PREFERENCES_CHANGED = "user.preferences.changed"
    AVATAR_CHANGED = "user.avatar.changed"
    USER_DEACTIVATED = "user.deactivated"
    USER_REACTIVATED = "user.reactivated"
    ADMIN_SESSIONS_ENDED = "admin.user.sessions_ended"
    ADMIN_VERIFICATION_RESENT = "admin.user.verification_resent"
    ADMIN_PASSWORD_RESET_REQUIRED = "admin.user.password_reset_required"  # noqa: S105 - an action name
    # operations
    JOB_RETRIED = "job.retried"
    JOB_DISCARDED = "job.discarded"
    # email
    EMAIL_SUPPRESSION_ADDED = "email.suppression.added"
    EMAIL_SUPPRESSION_LIFTED = "email.suppression.lifted"
    EMAIL_SNS_SUBSCRIBED = "email.sns.subscription_confirmed"
    NOTIFICATIONS_UNSUBSCRIBED = "notifications.unsubscribed"
    NOTIFICATION_PREFERENCES_CHANGED = "notifications.preferences.changed"
    # files
    FILE_QUARANTINED = "file.quarantined"
    FILE_QUOTA_CHANGED = "file.quota.changed"
    FILE_PURGED = "file.purged"
    # privacy
    PRIVACY_EXPORT_REQUESTED = "privacy.export.requested"
    PRIVACY_EXPORT_DOWNLOADED = "privacy.export.downloaded"
    PRIVACY_ERASURE_REQUESTED = "privacy.erasure.requested"
    PRIVACY_ERASURE_CANCELLED = "privacy.erasure.cancelled"
    PRIVACY_ERASURE_PROCESSED = "privacy.erasure.processed"
    PRIVACY_ERASURE_HELD = "privacy.erasure.held"
    PRIVACY_ERASURE_RELEASED = "privacy.erasure.released"
    PRIVACY_CONSENT_CHANGED = "privacy.consent.changed"
    PRIVACY_POLICY_PUBLISHED = "privacy.policy.published"
    PRIVACY_POLICY_ACCEPTED = "privacy.policy.accepted"
    PRIVACY_RETENTION_APPLIED = "privacy.retention.applied"
    # the audit log itself
    AUDIT_EXPORTED = "audit.exported"
    AUDIT_PURGED = "audit.purged"

    @property
    def description(self) -> str:
        return DESCRIPTIONS[self]


DESCRIPTIONS: dict[Action, str] = {
    Action.SIGN_IN_SUCCEEDED: "Signed in",
    Action.SIGN_IN_FAILED: "A sign-in failed (wrong password, unknown email or wrong code)",
    Action.SIGN_IN_RATE_LIMITED: "Sign-ins were refused for too many attempts",
    Action.SIGN_OUT: "Signed out",
    Action.SIGNED_UP: "Created an account",
    Action.EMAIL_VERIFIED: "Confirmed an email address",
    Action.EMAIL_CHANGE_REQUESTED: "Asked to change the account's email address",
    Action.EMAIL_CHANGED: "Changed the account's email address",
    Action.PASSWORD_CHANGED: "Changed the password",
    Action.PASSWORD_RESET_REQUESTED: "Asked for a password reset link",
    Action.PASSWORD_RESET: "Reset the password with a link",
    Action.REAUTHENTICATED: "Confirmed the password for a sensitive action",
    Action.MFA_ENABLED: "Turned on two-factor sign-in",
    Action.MFA_DISABLED: "Turned off two-factor sign-in",
    Action.MFA_FAILED: "Entered a wrong two-factor code",
    Action.RECOVERY_CODE_USED: "Signed in with a recovery code",
    Action.SESSION_REVOKED: "Ended a session",
    Action.REFRESH_REUSED: "A spent refresh token was reused: its session was ended",
    Action.TOKEN_CREATED: "Created an API token",
    Action.TOKEN_REVOKED: "Revoked an API token",
    Action.USER_CREATED: "Created an account from the command line",
    Action.USER_ROLE_CHANGED: "Changed a user's role",
    Action.ROLE_CREATED: "Created a role",
    Action.ADMIN_USER_VIEWED: "Opened a user's details",
    Action.PROFILE_UPDATED: "Changed their profile",
    Action.PREFERENCES_CHANGED: "Changed their display preferences",
    Action.AVATAR_CHANGED: "Changed or removed their avatar",
    Action.USER_DEACTIVATED: "Deactivated their account",
    Action.USER_REACTIVATED: "Reactivated their account",
    Action.ADMIN_SESSIONS_ENDED: "Ended every session of a user",
    Action.ADMIN_VERIFICATION_RESENT: "Sent a user a new verification link",
    Action.ADMIN_PASSWORD_RESET_REQUIRED: "Required a user to set a new password at next sign-in",
    Action.JOB_RETRIED: "Retried a failed job",
    Action.JOB_DISCARDED: "Discarded a failed job",
    Action.EMAIL_SUPPRESSION_ADDED: "Added an address to the email suppression list",
    Action.EMAIL_SUPPRESSION_LIFTED: "Lifted an address's email suppression",
    Action.EMAIL_SNS_SUBSCRIBED: "Confirmed an Amazon SNS subscription for email delivery reports",
    Action.NOTIFICATIONS_UNSUBSCRIBED: "Turned off a category's email from an unsubscribe link",
    Action.NOTIFICATION_PREFERENCES_CHANGED: "Changed notification preferences",
    Action.FILE_QUARANTINED: "A virus scan found a threat in a file: it was quarantined",
    Action.FILE_QUOTA_CHANGED: "Changed a user's file quota",
    Action.FILE_PURGED: "Purged deleted files past their restore period",
    Action.PRIVACY_EXPORT_REQUESTED: "Asked for a copy of their data",
    Action.PRIVACY_EXPORT_DOWNLOADED: "Downloaded their data export",
    Action.PRIVACY_ERASURE_REQUESTED: "Asked for their account and data to be erased",
    Action.PRIVACY_ERASURE_CANCELLED: "Cancelled an erasure during its grace period",
    Action.PRIVACY_ERASURE_PROCESSED: "Erased an account and its data",
    Action.PRIVACY_ERASURE_HELD: "Placed a legal hold on an erasure",
    Action.PRIVACY_ERASURE_RELEASED: "Released the legal hold on an erasure",
    Action.PRIVACY_CONSENT_CHANGED: "Granted or withdrew consent",
    Action.PRIVACY_POLICY_PUBLISHED: "Published a version of the privacy policy or the terms",
    Action.PRIVACY_POLICY_ACCEPTED: "Accepted a version of the privacy policy or the terms",
    Action.PRIVACY_RETENTION_APPLIED: "Deleted personal data past its retention period",
    Action.AUDIT_EXPORTED: "Exported audit events",
    Action.AUDIT_PURGED: "Purged audit events past retention (checkpoint)",
}
