"""Boot-time configuration: the only module that reads the environment.

Every setting comes from a ``FASTAPP_*`` environment variable (or an optional ``.env`` file),
is typed and validated by pydantic-settings, and is grouped by concern into sections. The
sections choose the backends (SQLite or PostgreSQL, memory or Redis) so business code never
branches on settings. ``Config.production_problems()`` lists what makes a production
configuration unsafe; ``fastapp serve`` refuses to start while that list is not empty.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SECRET = "change-me-development-only"  # noqa: S105 - the marker production refuses


class Environment(StrEnum):
    development = "development"
    production = "production"
    test = "test"


class _Section(BaseSettings):
    """A group of settings read from ``FASTAPP_<PREFIX>...`` variables."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True)
    #: Variables of this section whose values are secrets, redacted by ``redacted()``.
    secret_fields: ClassVar[frozenset[str]] = frozenset()


class AppSettings(_Section):
    """Identity of the instance and its run mode."""

    model_config = SettingsConfigDict(env_prefix="FASTAPP_")

    env: Environment = Field(Environment.development, description="development, production or test.")
    debug: bool = Field(False, description="Name the exception on 500 pages and problems. Refused in production.")
    name: str = Field("FastApp", min_length=1, max_length=80, description="Product name in pages and mail.")
    site_url: str = Field("http://127.0.0.1:5001", description="Public base URL. https in production.")
    secret_key: SecretStr = Field(
        SecretStr(DEFAULT_SECRET), description="Signs cookies and tokens; 32+ random characters."
    )
    var_dir: Path = Field(Path("var"), description="Folder for the embedded database, files and mail.")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: str = Field("json", pattern="^(json|console)$", description="json or console.")
    addons: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated importable modules whose register(registry) runs after the built-in domains.",
    )

    secret_fields: ClassVar[frozenset[str]] = frozenset({"secret_key"})

    @field_validator("addons", mode="before")
    @classmethod
    def _split_addons(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for item in value:
            if not all(part.isidentifier() for part in str(item).split(".")):
                raise ValueError(f"{item!r} is not a module name such as mycompany.blog")
        return value

    @field_validator("site_url")
    @classmethod
    def _site_url_is_absolute(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL such as https://app.example.com")
        return value.rstrip("/")

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return level

    @property
    def is_https(self) -> bool:
        return self.site_url.startswith("https://")


class DatabaseSettings(_Section):
    """The application database: SQLite under var/ by default, PostgreSQL in production."""

    model_config = SettingsConfigDict(env_prefix="FASTAPP_DATABASE_")

    url: str = Field("", description="SQLAlchemy URL; empty means sqlite under FASTAPP_VAR_DIR.")
    pool_size: int = Field(10, ge=1, le=200, description="Connections per process (PostgreSQL).")
    echo: bool = Field(False, description="Log every SQL statement.")

    secret_fields: ClassVar[frozenset[str]] = frozenset({"url"})


class RedisSettings(_Section):
    """Cache, rate limits and pub/sub; in-process memory when no URL is set."""

    model_config = SettingsConfigDict(env_prefix="FASTAPP_REDIS_")

    url: str = Field("", description="redis:// or rediss:// URL; empty means in-process memory.")
    prefix: str = Field("fastapp:", min_length=1, description="Namespace of keys and channels in Redis.")

    secret_fields: ClassVar[frozenset[str]] = frozenset({"url"})


class HttpSettings(_Section):
    """How the app speaks HTTP: server, static files, proxies, limits."""

    model_config = SettingsConfigDict(env_prefix="FASTAPP_")

    host: str = Field("127.0.0.1", description="Address `fastapp serve` binds.")
    port: int = Field(5001, ge=1, le=65535, description="Port `fastapp serve` binds.")
    workers: int = Field(1, ge=1, le=64, description="Web worker processes.")
    static_url: str = Field("/static", description="Base URL of static files; a CDN origin allowed.")
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated IPs/CIDRs whose X-Forwarded-* and X-Request-ID are believed.",
    )
    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest request body accepted outside upload routes (413)."
    )
    hsts_seconds: int = Field(31_536_000, ge=0, description="HSTS max-age sent over https.")
    metrics_token: SecretStr = Field(
        SecretStr(""),
        description="Bearer token /metrics requires; empty answers loopback only. Required in production "
        "when FASTAPP_HOST is not a loopback address.",
    )

    secret_fields: ClassVar[frozenset[str]] = frozenset({"metrics_token"})

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for item in value:
            ipaddress.ip_network(item, strict=False)  # raises ValueError on a bad entry
        return value

    @field_validator("static_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/") or "/static"


class MailSettings(_Section):
    """Outgoing mail: SMTP in production, an outbox folder (.eml files) otherwise."""

    model_config = SettingsConfigDict(env_prefix="FASTAPP_")

    smtp_url: SecretStr = Field(
        SecretStr(""),
        description="smtp://user:pass@host:587 (STARTTLS) or smtps://...:465; empty writes .eml files to var/mail.",
    )
    mail_from: str = Field("FastApp <no-reply@localhost>", description="Sender of every mail.")
    email_tracking: bool = Field(
        False,
        description="Record opens (a 1x1 image) and link clicks (links go through /email/click) of "
        "non-mandatory mail; security and account mail is never tracked.",
    )

    secret_fields: ClassVar[frozenset[str]] = frozenset({"smtp_url"})


class SecuritySettings(_Section):
    """Rate limits and field encryption keys."""

    model_config = SettingsConfigDict(env_prefix="FASTAPP_")

    rate_limits: dict[str, str] = Field(
        default_factory=dict,
        description='JSON object overriding named rate limits, e.g. {"login.ip": "10 per minute; 50 per hour"}.',
    )
    encryption_keys: SecretStr = Field(
        SecretStr(""),
        description="Comma-separated key ring id:base64url-32-bytes; the first encrypts. Required in production.",
    )

    secret_fields: ClassVar[frozenset[str]] = frozenset({"encryption_keys"})


class AuthSettings(_Section):
    """Sign-in, sessions and tokens."""

    model_config = SettingsConfigDict(env_prefix="FASTAPP_AUTH_")

    session_idle_minutes: int = Field(60 * 24, ge=5, description="A browser session ends after this long unused.")
    session_max_days: int = Field(7, ge=1, le=400, description="Absolute lifetime of a browser session.")
    remember_days: int = Field(30, ge=1, le=400, description='Lifetime with "remember me" ticked.')
    sudo_minutes: int = Field(10, ge=1, le=120, description="How long re-authentication unlocks sensitive actions.")
    access_token_minutes: int = Field(15, ge=1, le=60, description="Lifetime of API access tokens (JWT).")
    refresh_token_days: int = Field(30, ge=1, le=400, description="Lifetime of API refresh tokens.")
    verify_link_hours: int = Field(48, ge=1, le=720, description="Validity of email verification links.")
    reset_link_minutes: int = Field(60, ge=5, le=1440, description="Validity of password reset links.")


class JobsSettings(_Section):
    """The durable job queue and its workers."""

    model_config = SettingsConfigDict(env_prefix="FASTAPP_JOBS_")

    in_process: bool = Field(
        True, description="Run a worker inside each web process (the embedded default); off when `fastapp worker` runs."
    )
    concurrency: int = Field(4, ge=1, le=256, description="Jobs one worker runs at a time.")
    lease_seconds: int = Field(
        60, ge=5, le=3600, description="A claimed job returns to the queue if its worker is silent this long."
    )
    retention_days: int = Field(
        7, ge=1, le=3650, description="Succeeded jobs older than this are deleted daily (dead jobs stay until handled)."
    )


class AuditSettings(_Section):
    """The audit log."""

    model_config = SettingsConfigDict(env_prefix="FASTAPP_AUDIT_")

    retention_days: int = Field(
        400, ge=30, le=3650, description="Audit events older than this are removed by `fastapp audit purge`."
    )


class EmailWebhookSettings(_Section):
    """Delivery reports from email providers (bounces, complaints, deliveries) and the suppression list."""

    model_config = SettingsConfigDict(env_prefix="FASTAPP_")

    postmark_webhook_user: SecretStr = Field(
        SecretStr(""), description="HTTP Basic user Postmark's webhooks send; empty turns /webhooks/email/postmark off."
    )
    postmark_webhook_password: SecretStr = Field(
        SecretStr(""), description="HTTP Basic password of Postmark's webhooks; 16+ random characters in production."
    )
    ses_topic_arns: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated SNS topic ARNs /webhooks/email/ses accepts; empty accepts any topic.",
    )
    sns_cert_host_pattern: str = Field(
        r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$",
        description="Regular expression an SNS SigningCertURL / SubscribeURL host must match (https only).",
    )
    soft_bounce_limit: int = Field(
        3, ge=1, le=100, description="Soft bounces since the last delivery that suppress an address."
    )

    secret_fields: ClassVar[frozenset[str]] = frozenset({"postmark_webhook_user", "postmark_webhook_password"})

    @field_validator("ses_topic_arns", mode="before")
    @classmethod
    def _split_arns(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for item in value:
            if not str(item).startswith("arn:"):
                raise ValueError(f"{item!r} is not a topic ARN such as arn:aws:sns:eu-west-1:123456789012:ses-events")
        return value

    @field_validator("sns_cert_host_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        import re

        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        return value


class FilesSettings(_Section):
    """Uploads: size and image limits, accepted types, default quotas and the purge delay."""

    model_config = SettingsConfigDict(env_prefix="FASTAPP_FILES_")

    max_upload_bytes: int = Field(
        25 * 1024 * 1024, ge=1024, le=5 * 1024**3, description="Largest accepted upload (bytes); larger bodies get 413."
    )
    max_image_pixels: int = Field(
        40_000_000,
        ge=10_000,
        le=500_000_000,
        description="Largest image (width x height) decoded; larger ones are refused.",
    )
    thumbnail_size: int = Field(256, ge=32, le=1024, description="Longest side of generated thumbnails (pixels).")
    default_quotas: dict[str, dict[str, int]] = Field(
        default_factory=lambda: {
            "member": {"bytes": 1024**3, "files": 1000},
            "admin": {"bytes": 10 * 1024**3, "files": 10000},
            "owner": {"bytes": 10 * 1024**3, "files": 10000},
        },
        description=(
            'JSON quotas per role, e.g. {"member": {"bytes": 1073741824, "files": 1000}}; '
            "a user gets the largest of their roles."
        ),
    )
    purge_days: int = Field(
        30, ge=1, le=3650, description="Deleted files are purged (bytes and row) after this many days."
    )
    download_url_minutes: int = Field(15, ge=1, le=1440, description="Validity of download URLs (signed or presigned).")
    purposes: dict[str, list[str]] = Field(
        default_factory=dict,
        description=(
            'JSON upload purposes and the types each accepts, e.g. {"document": ["application/pdf", "text/plain"]}; '
            "adds to or replaces the built-in avatar and document purposes."
        ),
    )


class StorageSettings(_Section):
    """Where uploaded files are kept: a local folder (one machine) or an S3-compatible bucket."""

    model_config = SettingsConfigDict(env_prefix="FASTAPP_")

    storage_backend: str = Field(
        "local", pattern="^(local|s3)$", description="local (a folder on this machine) or s3 (a bucket)."
    )
    storage_dir: Path | None = Field(
        None, description="Folder of the local backend; empty means FASTAPP_VAR_DIR/files."
    )
    s3_bucket: str = Field("", description="Bucket of the s3 backend (required with it).")
    s3_endpoint_url: str = Field(
        "", description="Endpoint of an S3-compatible service (MinIO, R2...); empty means AWS."
    )
    s3_region: str = Field("", description="Region of the bucket, e.g. eu-west-1; empty uses boto3's default.")
    s3_access_key_id: SecretStr = Field(
        SecretStr(""), description="Access key id; empty uses boto3's chain (environment, instance role)."
    )
    s3_secret_access_key: SecretStr = Field(SecretStr(""), description="Secret access key of that key id.")
    s3_path_style: bool = Field(
        False, description="Address the bucket in the path (endpoint/bucket/key), as MinIO and moto want."
    )

    secret_fields: ClassVar[frozenset[str]] = frozenset({"s3_access_key_id", "s3_secret_access_key"})

    @field_validator("storage_dir", mode="before")
    @classmethod
    def _empty_dir_is_default(cls, value: Any) -> Any:
        return None if value == "" else value  # FASTAPP_STORAGE_DIR= must not mean the working directory

    @field_validator("s3_endpoint_url")
    @classmethod
    def _endpoint_is_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if value and (parts.scheme not in {"http", "https"} or not parts.netloc):
            raise ValueError("must be an absolute http(s) URL such as https://s3.eu-west-1.amazonaws.com")
        return value.rstrip("/")


class ScannerSettings(_Section):
    """Virus scanning of uploads by ClamAV clamd; none by default (uploads are then marked unscanned)."""

    model_config = SettingsConfigDict(env_prefix="FASTAPP_")

    clamd_url: str = Field(
        "",
        description="clamd address: tcp://host:3310 or unix:///run/clamav/clamd.ctl; empty means no scanning. "
        "Required in production unless FASTAPP_VIRUS_SCANNING is false.",
    )
    clamd_timeout_seconds: float = Field(
        120.0, ge=1, le=3600, description="Longest one scan may take; past it the file stays pending and is retried."
    )
    virus_scanning: bool = Field(
        True,
        description="false (or off) turns scanning off even with FASTAPP_CLAMD_URL set, and lets production "
        "start without a scanner; uploads are then marked unscanned.",
    )

    @field_validator("clamd_url")
    @classmethod
    def _clamd_address(cls, value: str) -> str:
        parts = urlsplit(value)
        try:
            port = parts.port
        except ValueError:
            port = None
        tcp = parts.scheme == "tcp" and bool(parts.hostname) and port is not None
        unix = parts.scheme == "unix" and not parts.netloc and parts.path.startswith("/")
        if value and not (tcp or unix):
            raise ValueError("must be tcp://host:port or unix:///path/to/clamd.sock")
        return value

    @property
    def active_url(self) -> str:
        """The clamd address to scan with, or empty when scanning is off or not configured."""
        return self.clamd_url if self.virus_scanning else ""


class PrivacySettings(_Section):
    """Privacy (GDPR): export links, erasure grace period, and how long each kind of personal data is kept."""

    model_config = SettingsConfigDict(env_prefix="FASTAPP_PRIVACY_")

    erasure_grace_days: int = Field(
        30, ge=0, le=365, description="Days between an erasure request and the erasure (the user may cancel meanwhile)."
    )
    erasure_reminder_days: int = Field(
        7, ge=0, le=365, description="Days before the erasure that the reminder email goes out."
    )
    export_link_days: int = Field(7, ge=1, le=90, description="Days a finished data export can be downloaded.")
    export_interval_hours: int = Field(24, ge=0, le=720, description="Hours a user waits between two data exports.")
    unverified_account_days: int = Field(
        30, ge=1, le=3650, description="Accounts never verified are deleted after this many days."
    )
    ended_session_days: int = Field(
        90,
        ge=1,
        le=3650,
        description="Ended or expired sessions (device, IP, user agent) are deleted after this many days.",
    )
    read_notification_days: int = Field(
        180, ge=1, le=3650, description="Read notifications are deleted after this many days."
    )
    email_record_days: int = Field(
        365, ge=1, le=3650, description="Email records and their delivery events are deleted after this many days."
    )
    visitor_consent_days: int = Field(
        395,
        ge=30,
        le=3650,
        description="Consent records of visitors who never signed up are deleted after this many days.",
    )


class Config(BaseModel):
    """The whole configuration: one instance per process, handed to ``create_app``."""

    model_config = ConfigDict(frozen=True)

    app: AppSettings = Field(default_factory=AppSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    jobs: JobsSettings = Field(default_factory=JobsSettings)
    email_webhooks: EmailWebhookSettings = Field(default_factory=EmailWebhookSettings)
    files: FilesSettings = Field(default_factory=FilesSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    scanner: ScannerSettings = Field(default_factory=ScannerSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)

    SECTIONS: ClassVar[tuple[str, ...]] = (
        "app",
        "database",
        "redis",
        "http",
        "auth",
        "security",
        "mail",
        "audit",
        "jobs",
        "email_webhooks",
        "files",
        "storage",
        "scanner",
        "privacy",
    )

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{(self.app.var_dir / 'fastapp.db').as_posix()}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def is_production(self) -> bool:
        return self.app.env is Environment.production

    def production_problems(self) -> list[str]:
        """Every reason this configuration is unsafe for production, naming the variable to fix.

        Returns an empty list outside production mode or when the configuration is sound.
        """
        if not self.is_production:
            return []
        problems: list[str] = []
        secret = self.app.secret_key.get_secret_value()
        if secret == DEFAULT_SECRET or len(secret) < 32:
            problems.append("FASTAPP_SECRET_KEY: set a random value of at least 32 characters")
        if self.is_sqlite:
            problems.append("FASTAPP_DATABASE_URL: set a PostgreSQL URL (SQLite is for development)")
        if self.app.debug:
            problems.append("FASTAPP_DEBUG: must be false in production")
        if not self.app.is_https:
            problems.append("FASTAPP_SITE_URL: must be an https:// URL in production")
        if not self.security.encryption_keys.get_secret_value():
            problems.append("FASTAPP_ENCRYPTION_KEYS: set a key ring (fastapp keys generate)")
        if not self.mail.smtp_url.get_secret_value():
            problems.append("FASTAPP_SMTP_URL: set an SMTP server so account mail reaches people")
        if self.http.workers > 1 and not self.redis.url:
            problems.append("FASTAPP_REDIS_URL: required when FASTAPP_WORKERS is more than 1")
        problems.extend(self._metrics_problems())
        problems.extend(self._storage_problems())
        if self.scanner.virus_scanning and not self.scanner.clamd_url:
            problems.append(
                "FASTAPP_CLAMD_URL: set a clamd address so uploads are scanned "
                "(or FASTAPP_VIRUS_SCANNING=false to run without virus scanning)"
            )
        user = self.email_webhooks.postmark_webhook_user.get_secret_value()
        password = self.email_webhooks.postmark_webhook_password.get_secret_value()
        if bool(user) != bool(password):
            problems.append("FASTAPP_POSTMARK_WEBHOOK_USER and FASTAPP_POSTMARK_WEBHOOK_PASSWORD: set both or neither")
        elif password and len(password) < 16:
            problems.append("FASTAPP_POSTMARK_WEBHOOK_PASSWORD: use at least 16 random characters")
        return problems

    def _storage_problems(self) -> list[str]:
        """The s3 backend needs a bucket, both halves of a key pair, and TLS beyond loopback."""
        storage = self.storage
        if storage.storage_backend == "s3":
            if not storage.s3_bucket:
                return ["FASTAPP_S3_BUCKET: required when FASTAPP_STORAGE_BACKEND is s3"]
            problems: list[str] = []
            endpoint = urlsplit(storage.s3_endpoint_url)
            if endpoint.scheme == "http" and not _is_loopback(endpoint.hostname or ""):
                problems.append("FASTAPP_S3_ENDPOINT_URL: use https:// (keys and files would cross networks in clear)")
            if bool(storage.s3_access_key_id.get_secret_value()) != bool(
                storage.s3_secret_access_key.get_secret_value()
            ):
                problems.append("FASTAPP_S3_ACCESS_KEY_ID and FASTAPP_S3_SECRET_ACCESS_KEY: set both or neither")
            return problems
        # The local folder stays allowed: web and worker processes on one machine share it. Several
        # machines need a shared mount or the s3 backend (docs/configuration.md says so).
        return []

    def _metrics_problems(self) -> list[str]:
        """A process listening beyond loopback is scraped over the network: without a token its
        only fence would be the peer-address check, so production wants a real secret there."""
        token = self.http.metrics_token.get_secret_value()
        if token and len(token) < 32:
            return ["FASTAPP_METRICS_TOKEN: use at least 32 random characters"]
        if not token and not _is_loopback(self.http.host):
            return ["FASTAPP_METRICS_TOKEN: set one (32+ random characters) when FASTAPP_HOST is not loopback"]
        return []

    def redacted(self) -> dict[str, dict[str, Any]]:
        """The effective configuration by section, with secrets replaced by ``***``."""
        out: dict[str, dict[str, Any]] = {}
        for name in self.SECTIONS:
            section: _Section = getattr(self, name)
            values = section.model_dump(mode="json")
            for field in section.secret_fields:
                if values.get(field):
                    values[field] = _redact(field, str(values[field]), section)
            out[name] = values
        return out


def _redact(field: str, value: str, section: _Section) -> str:
    raw = getattr(section, field)
    text = raw.get_secret_value() if isinstance(raw, SecretStr) else value
    if "://" in text:  # keep the scheme and host of URLs so operators can see where they point
        parts = urlsplit(text)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://***@{host}{port}{parts.path}"
    return "***"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve beyond loopback


def load_config(**sections: Any) -> Config:
    """Read the configuration from the environment (and ``.env``), overriding given sections."""
    return Config(**sections)
