"""What every ``huiminbao`` command that works on the data needs: settings from the environment
(a bad one is a clear command-line error), the schema migrated, and a wired container that is
disposed of afterwards. The domain command groups (claims, disclosure) and cli.py share it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from huiminbao.core.config import ConfigError, Settings
from huiminbao.core.container import Container


def settings_from_env() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


@contextmanager
def wired_from_env(*, migrate: bool = True) -> Iterator[Container]:
    """``migrate=False`` for jobs run on a schedule: only deploys (``serve``, ``db upgrade``)
    change the schema, never a job from an image that may be newer than the running app."""
    from huiminbao.app import build_container
    from huiminbao.core.migrate import upgrade

    settings = settings_from_env()
    if migrate:
        upgrade(settings.database_url)
    wired = build_container(settings)
    try:
        yield wired
    finally:
        wired.db.dispose()
