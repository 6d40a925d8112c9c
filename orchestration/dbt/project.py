"""Where the dbt project lives, and making sure its manifest exists before assets load.

`dagster dev` prepares the project itself (`prepare_if_dev`). Every other entry point (the CLI,
tests, a production code server) calls `ensure_manifest`, which runs `dbt parse` only when the
manifest is missing or older than a file of the project, so a stale manifest never hides a new
model.
"""

import fcntl
import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

from dagster_dbt import DbtProject

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
_PROJECT_INPUTS = (
    "dbt_project.yml",
    "profiles.yml",
    "models",
    "seeds",
    "macros",
    "materializations",
    "tests",
)


class DbtProjectError(RuntimeError):
    """dbt could not parse the project."""


def dbt_executable() -> str:
    """The `dbt` installed with this environment's scripts (the venv's), else the one on PATH.

    `sys.executable` is not enough: a code server may run the interpreter by its resolved path,
    outside the venv's `bin/`.
    """
    beside = Path(sysconfig.get_path("scripts")) / "dbt"
    if beside.exists():
        return str(beside)
    return shutil.which("dbt") or "dbt"


def manifest_path() -> Path:
    return DBT_PROJECT.manifest_path


def _newest_input_mtime() -> float:
    newest = 0.0
    for name in _PROJECT_INPUTS:
        path = DBT_PROJECT_DIR / name
        if path.is_file():
            newest = max(newest, path.stat().st_mtime)
        elif path.is_dir():
            for file in path.rglob("*"):
                if file.is_file():
                    newest = max(newest, file.stat().st_mtime)
    return newest


def manifest_is_current() -> bool:
    manifest = manifest_path()
    return manifest.exists() and manifest.stat().st_mtime >= _newest_input_mtime()


def ensure_manifest() -> Path:
    """Parse the dbt project if its manifest is missing or stale; returns the manifest path.

    Processes that start together (a code server and the daemon, parallel test workers) parse
    one at a time under a file lock, and the later ones find the manifest current.
    """
    if manifest_is_current():
        return manifest_path()
    lock_path = manifest_path().parent / ".parse.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not manifest_is_current():
            _parse()
    return manifest_path()


def _parse() -> None:
    parse_project()


def parse_project(target: Path | None = None) -> None:
    """`dbt parse` of the project, its files under `target` when given (else DBT_TARGET_PATH
    or the project's `target/`); raises DbtProjectError with dbt's output when it fails."""
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    if target is not None:
        env["DBT_TARGET_PATH"] = str(target)
    result = subprocess.run(
        [
            dbt_executable(),
            "parse",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--quiet",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise DbtProjectError(f"dbt parse failed:\n{result.stdout}\n{result.stderr}".strip())
