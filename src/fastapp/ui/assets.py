"""The built front-end files: logical names mapped to content-hashed URLs.

``frontend/build.mjs`` writes ``static/dist/manifest.json``; the page head asks for
``assets.url("app.css")`` and gets e.g. ``/static/dist/app.3f2a9c01bd.css``, served with an
immutable cache header. ``FASTAPP_STATIC_URL`` can point the same names at a CDN.
"""

from __future__ import annotations

import json
from pathlib import Path

DIST_DIR = Path(__file__).resolve().parent.parent / "static" / "dist"


class Assets:
    def __init__(self, static_url: str = "/static", dist_dir: Path = DIST_DIR) -> None:
        self.static_base = static_url.rstrip("/") + "/"
        self.base = self.static_base + "dist/"
        manifest = dist_dir / "manifest.json"
        try:
            self.files: dict[str, str] = json.loads(manifest.read_text())
        except FileNotFoundError as exc:  # a source checkout without a build is a broken package
            raise RuntimeError(f"{manifest} is missing: run `npm run build` in frontend/") from exc

    def url(self, name: str) -> str:
        """The URL of logical asset ``name``; KeyError names an asset the build does not make."""
        return self.base + self.files[name]

    def static(self, path: str) -> str:
        """The URL of a file kept under ``static/`` by name (not content-hashed)."""
        return self.static_base + path
