from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel


class InstanceOut(BaseModel):
    """Public description of this installation."""

    name: str
    version: str
    instance_id: uuid.UUID
    since: datetime
