"""Files: uploads with validation, storage (local or S3), quotas, virus scanning, downloads and
the file manager."""

from __future__ import annotations

from fastapp.platform.registry import Registry


def register(registry: Registry) -> None:
    """Routes, jobs and schedules of the files domain."""
