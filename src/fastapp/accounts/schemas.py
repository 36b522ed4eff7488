"""API input and output models of the accounts domain."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class RegisterIn(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    display_name: str = Field(max_length=100)
    accept_policies: list[uuid.UUID] = Field(
        default_factory=list,
        max_length=10,
        description=(
            "Ids of the policy versions in force (`GET /api/v1/policies`) that the user accepts. "
            "Required, and must list every one of them, once a privacy policy or terms version is "
            "published: otherwise 422 with an error on `accept_policies`."
        ),
    )


class AcceptedOut(BaseModel):
    """The same answer whether or not an account exists (no enumeration)."""

    detail: str


class TokenIn(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    otp: str | None = Field(default=None, max_length=16)


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class RefreshIn(BaseModel):
    refresh_token: str = Field(max_length=200)


class VerifyEmailIn(BaseModel):
    token: str = Field(max_length=1000)


class PasswordResetIn(BaseModel):
    email: str = Field(max_length=320)


class PasswordResetConfirmIn(BaseModel):
    token: str = Field(max_length=1000)
    password: str = Field(max_length=1024)


class PasswordChangeIn(BaseModel):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


class EmailChangeIn(BaseModel):
    email: str = Field(max_length=320)


class MeOut(BaseModel):
    id: uuid.UUID
    email: str
    display_name: str
    email_verified: bool
    permissions: list[str]


class SessionOut(BaseModel):
    id: uuid.UUID
    device: str
    kind: str
    ip: str | None
    created_at: datetime
    last_seen_at: datetime
    current: bool


class TokenCreateIn(BaseModel):
    name: str = Field(max_length=100)
    scopes: list[str] = Field(default_factory=list, max_length=50)
    expires_in_days: int | None = Field(default=90, ge=1, le=366)


class PersonalTokenOut(BaseModel):
    id: uuid.UUID
    name: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


class PersonalTokenCreatedOut(PersonalTokenOut):
    token: str = Field(description="The secret: shown only in this response.")


class RoleIn(BaseModel):
    name: str = Field(max_length=64)
    description: str = Field(default="", max_length=255)
    parent: str | None = Field(default="member", max_length=64)
    permissions: list[str] = Field(default_factory=list, max_length=100)


class RoleOut(BaseModel):
    name: str
    description: str
    built_in: bool
    permissions: list[str] = Field(description="Effective: its own and those of the roles below it.")


class RoleAssignmentIn(BaseModel):
    role: str = Field(max_length=64)


class ProfileOut(BaseModel):
    display_name: str
    bio: str
    locale: str
    timezone: str
    extra: dict[str, object] = Field(default_factory=dict, description="Application-defined profile fields.")


class ProfileIn(BaseModel):
    """Only the fields sent are changed."""

    display_name: str | None = Field(default=None, max_length=1000)
    bio: str | None = Field(default=None, max_length=5000)
    locale: str | None = Field(default=None, max_length=100)
    timezone: str | None = Field(default=None, max_length=100)
    extra: dict[str, str] | None = Field(default=None, max_length=50)


class PreferencesOut(BaseModel):
    theme: str
    locale: str
    timezone: str
    date_format: str
    time_format: str


class PreferencesIn(BaseModel):
    """Only the fields sent are changed."""

    theme: str | None = Field(default=None, max_length=100)
    locale: str | None = Field(default=None, max_length=100)
    timezone: str | None = Field(default=None, max_length=100)
    date_format: str | None = Field(default=None, max_length=100)
    time_format: str | None = Field(default=None, max_length=100)


class AvatarOut(BaseModel):
    custom: bool = Field(description="False when the generated initials are shown.")
    urls: dict[str, str] = Field(description="The avatar's URL by size in pixels (64, 128, 256).")
