"""`vault dev`: the Dagster UI comes up with the vault's assets, pointed at the sandbox."""

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(url: str, seconds: float) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return httpx.get(url, timeout=2).raise_for_status()
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


ASSETS_QUERY = "{ assetNodes { assetKey { path } groupName } }"


def test_dev_opens_the_ui_with_every_asset_and_starts_the_sandbox(tmp_path, database_url):
    ui_port, sandbox_port = _free_port(), _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"ANTHROPIC_ADMIN_API_KEY", "VAULT_CONFIG", "DAGSTER_HOME"}
    }
    env.update(VAULT_HOME=str(tmp_path / "home"), VAULT_DATABASE_URL=database_url)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orchestration.cli",
            "dev",
            "--port",
            str(ui_port),
            "--sandbox-port",
            str(sandbox_port),
            "--days",
            "2",
        ],
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for(f"http://127.0.0.1:{ui_port}/server_info", 150)
        nodes = []
        for _ in range(60):  # the code location loads after the server answers
            body = httpx.post(
                f"http://127.0.0.1:{ui_port}/graphql", json={"query": ASSETS_QUERY}, timeout=10
            ).json()
            nodes = (body.get("data") or {}).get("assetNodes") or []
            if nodes:
                break
            time.sleep(1)
        keys = {"/".join(node["assetKey"]["path"]): node["groupName"] for node in nodes}
        assert keys.get("raw/anthropic_cost_report") == "anthropic", sorted(keys)
        assert keys["raw/claude_code_messages"] == "claude_code"
        assert keys["marts/fct_metrics"] == "marts_core"
        # The sources point at the sandbox, which answers like the vendor does.
        refused = httpx.get(f"http://127.0.0.1:{sandbox_port}/v1/organizations/cost_report")
        assert refused.status_code == 401
        config = (tmp_path / "home" / "sandbox" / "vault.yaml").read_text()
        assert f"http://127.0.0.1:{sandbox_port}" in config
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{sandbox_port}/", timeout=2)
