"""Static files: content-hashed names are cached for a year, everything else revalidates."""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

HASHED = re.compile(r"\.[0-9a-f]{10}\.[a-z0-9]+$")
IMMUTABLE = "public, max-age=31536000, immutable"


class HashedStaticFiles(StaticFiles):
    def file_response(self, full_path: Any, stat_result: Any, scope: Scope, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        if HASHED.search(str(full_path)):
            response.headers["Cache-Control"] = IMMUTABLE
        else:
            response.headers["Cache-Control"] = "no-cache"
        return response
