"""Scratch PostgreSQL databases for the benchmarks: created fresh, dropped afterwards."""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

DEFAULT_BENCH_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/huiminbao_bench"


class BenchSetupError(RuntimeError):
    """Something the benchmark needs is missing; the message says what to do."""


@dataclass(frozen=True)
class ScratchDatabase:
    """A database the benchmark owns. Its name must say so ("bench" in it): the benchmark drops
    and recreates it, and must never do that to a database someone else relies on."""

    url: URL

    @classmethod
    def parse(cls, raw: str, *, suffix: str = "") -> ScratchDatabase:
        url = make_url(raw)
        if url.get_backend_name() != "postgresql":
            raise BenchSetupError(
                "the benchmark runs on PostgreSQL: pass a postgresql+psycopg:// URL")
        name = (url.database or "") + suffix
        if "bench" not in name:
            raise BenchSetupError(
                f"refusing to recreate database {name!r}: the benchmark's database name must "
                "contain 'bench' (it is dropped and created again)")
        return cls(url.set(database=name))

    @property
    def name(self) -> str:
        assert self.url.database is not None
        return self.url.database

    @property
    def sqlalchemy_url(self) -> str:
        return self.url.render_as_string(hide_password=False)

    def sibling(self, suffix: str) -> ScratchDatabase:
        return ScratchDatabase(self.url.set(database=self.name + suffix))

    def with_application_name(self, name: str) -> str:
        """This database's URL for a client that names itself (``application_name``), so its
        backends can be told apart from the app's (``backend_pids``)."""
        return self.url.update_query_dict({"application_name": name}).render_as_string(
            hide_password=False)

    def backend_pids(self, application_name: str) -> set[int]:
        """The pids of this database's backends whose client gave ``application_name``."""
        engine = create_engine(self._admin_url())
        try:
            with engine.connect() as conn:
                return {int(pid) for pid in conn.execute(text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = :db "
                    "AND application_name = :name"),
                    {"db": self.name, "name": application_name}).scalars()}
        finally:
            engine.dispose()

    def _admin_url(self) -> URL:
        return self.url.set(database="postgres")

    def recreate(self) -> None:
        engine = create_engine(self._admin_url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        except Exception as exc:
            raise BenchSetupError(
                f"cannot create database {self.name!r} on {self.url.host}:{self.url.port}: "
                f"{exc}") from exc
        finally:
            engine.dispose()

    def migrate(self) -> None:
        """Bring the (new, empty) database to the newest schema."""
        from huiminbao.core.migrate import upgrade_engine

        engine = create_engine(self.sqlalchemy_url)
        try:
            upgrade_engine(engine)
        finally:
            engine.dispose()

    def drop(self) -> None:
        engine = create_engine(self._admin_url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        finally:
            engine.dispose()

    def libpq_args(self) -> list[str]:
        """Connection options for the PostgreSQL command-line tools (pgbench, psql)."""
        args = ["-h", self.url.host or "127.0.0.1", "-p", str(self.url.port or 5432)]
        if self.url.username:
            args += ["-U", self.url.username]
        return args

    def libpq_env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.url.password:
            env["PGPASSWORD"] = str(self.url.password)
        return env
