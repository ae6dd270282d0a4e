"""A throw-away PostgreSQL 15 cluster on a free loopback port, with one database per Gravitee product.

Debian's binaries (``/usr/lib/postgresql/15/bin``, package ``postgresql-15``) are used as they are. ``initdb``
refuses to run as root, so when this runs as root the cluster belongs to the ``postgres`` system user that the
Debian package creates (its data folder is made for that user, and every server command runs through
``runuser -u postgres``); as any other user it runs as that user. The cluster listens on 127.0.0.1 only, its
Unix socket lives in its own folder, and it is removed with its folder when stopped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.real.processes import Managed, ProcessGroup, StartFailed, free_port, tail

PG_BIN = Path(os.environ.get("MCPGATE_PG_BIN", "/usr/lib/postgresql/15/bin"))
# The role the Gravitee servers log in with: a throw-away cluster on loopback, so a fixed dev password is fine.
DB_USER = "gravitee"
DB_PASSWORD = "gravitee"
START_TIMEOUT = 60


@dataclass
class Postgres:
    port: int
    root: Path
    databases: tuple[str, ...]

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    def jdbc_url(self, database: str) -> str:
        return f"jdbc:postgresql://127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` as the cluster's superuser over its socket; returns psql's unaligned output."""
        command = [str(PG_BIN / "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", str(self.root / "socket"),
                   "-p", str(self.port), "-d", database, "-c", sql]
        return subprocess.run(_as_owner(command), capture_output=True, text=True, check=True, timeout=60).stdout.strip()


def _owner() -> str | None:
    """The system user that runs the cluster when we are root (initdb refuses root), else None (ourselves)."""
    return "postgres" if os.geteuid() == 0 else None


def _as_owner(command: list[str]) -> list[str]:
    owner = _owner()
    return ["runuser", "-u", owner, "--", *command] if owner else command


def start(group: ProcessGroup, databases: tuple[str, ...] = ("am", "apim"), port: int | None = None,
          extra_options: list[str] | None = None) -> Postgres:
    """initdb, start and create ``databases`` (owned by ``DB_USER``); the cluster stops with ``group``."""
    if not (PG_BIN / "initdb").is_file():
        raise StartFailed(f"PostgreSQL 15 not found at {PG_BIN} (apt-get install postgresql-15)")
    root = Path(tempfile.mkdtemp(prefix="mcpgate-real-pg-"))
    owner = _owner()
    if owner:
        shutil.chown(root, owner)
    (root / "socket").mkdir()
    if owner:
        shutil.chown(root / "socket", owner)
    pg = Postgres(port or free_port(), root, databases)

    def remove() -> None:
        shutil.rmtree(root, ignore_errors=True)

    group.add(Managed("postgres folder", remove))
    initdb = [str(PG_BIN / "initdb"), "-D", str(pg.data), "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256",
              "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]
    done = subprocess.run(_as_owner(initdb), capture_output=True, text=True, timeout=120, cwd=root, check=False)
    if done.returncode:
        raise StartFailed(f"initdb failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    options = [f"-p {pg.port}", "-c listen_addresses=127.0.0.1", f"-c unix_socket_directories={root / 'socket'}",
               "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off", "-c max_connections=200",
               "-c shared_buffers=64MB", *(extra_options or [])]
    pg_ctl = [str(PG_BIN / "pg_ctl"), "-D", str(pg.data), "-l", str(pg.log), "-w", "-t", str(START_TIMEOUT),
              "-o", " ".join(options)]

    def stop() -> None:
        if (pg.data / "postmaster.pid").exists():
            subprocess.run(_as_owner([str(PG_BIN / "pg_ctl"), "-D", str(pg.data), "-m", "fast", "-w", "-t", "60", "stop"]),
                           capture_output=True, timeout=90, check=False)

    group.add(Managed("postgres", stop, log=pg.log))
    started = subprocess.run(_as_owner([*pg_ctl, "start"]), capture_output=True, text=True, timeout=START_TIMEOUT + 30, cwd=root, check=False)
    if started.returncode:
        raise StartFailed(f"PostgreSQL did not start ({started.returncode}): {started.stdout}{started.stderr}\n"
                          f"--- {pg.log} (tail) ---\n{tail(pg.log)}")
    pg.psql(f"CREATE ROLE {DB_USER} LOGIN PASSWORD '{DB_PASSWORD}'")
    for database in databases:
        pg.psql(f"CREATE DATABASE {database} OWNER {DB_USER}")
    return pg
