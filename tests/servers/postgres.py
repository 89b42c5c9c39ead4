"""A private PostgreSQL cluster for tests: ``initdb`` and ``pg_ctl`` as the ``postgres`` user,
on a free loopback port, its socket in its own directory; stopped and removed afterwards."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import SERVICES, free_port


@dataclass
class PostgresCluster:
    bin_dir: Path
    data: Path
    port: int

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _as_postgres(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["runuser", "-u", "postgres", "--", *argv],
            check=True,
            capture_output=True,
            text=True,
            cwd="/",
        )

    def create_database(self, name: str) -> str:
        self._as_postgres(
            str(self.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), name
        )
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self._as_postgres(
            str(self.bin_dir / "dropdb"), "-h", "127.0.0.1", "-p", str(self.port), "--force", name
        )

    def stop(self) -> None:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.data),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
            capture_output=True,
            cwd="/",
        )
        shutil.rmtree(self.data.parent, ignore_errors=True)


def _bin_dir() -> Path:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if not found:
        subprocess.run(["bash", str(SERVICES), "install"], check=True)
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent


def start_cluster() -> PostgresCluster:
    bin_dir = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="preserve-pg-"))
    data = root / "data"
    shutil.chown(root, "postgres", "postgres")
    os.chmod(root, 0o700)
    port = free_port()
    cluster = PostgresCluster(bin_dir, data, port)
    cluster._as_postgres(
        str(bin_dir / "initdb"),
        "-D",
        str(data),
        "-A",
        "trust",
        "-U",
        "postgres",
        "-E",
        "UTF8",
        "--no-sync",
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    cluster._as_postgres(
        str(bin_dir / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(root / "log"),
        "-w",
        "-t",
        "60",
        "start",
    )
    return cluster
