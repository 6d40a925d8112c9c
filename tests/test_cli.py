"""The `vault` command's handling of bad configuration."""

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_a_bad_vault_yaml_stops_definitions_loading_with_file_key_and_reason(tmp_path):
    config = tmp_path / "vault.yaml"
    config.write_text("sources:\n  anthropic:\n    timeout_s: -1\n")
    result = subprocess.run(
        [sys.executable, "-c", "import orchestration.definitions"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "VAULT_CONFIG": str(config), "HOME": str(tmp_path)},
    )
    assert result.returncode != 0
    assert f"{config}: sources.anthropic.timeout_s: Input should be greater than 0" in result.stderr
