"""惠民保 enrollment platform: a Flask JSON API and a light mobile web frontend."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("huiminbao")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"
