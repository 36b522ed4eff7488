"""FastApp: a modular Python web platform."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fastapp")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"
