"""vault.yaml: refused at load with the file, the key and the reason."""

from datetime import date
from pathlib import Path

import pytest

from orchestration.config import ConfigError, load_config

REPO_ROOT = Path(__file__).resolve().parents[1]


def _write(tmp_path, text):
    path = tmp_path / "vault.yaml"
    path.write_text(text)
    return path


def test_the_example_file_is_valid_and_enables_both_sources():
    config = load_config(REPO_ROOT / "vault.example.yaml")
    assert config.start_date == date(2026, 1, 1)
    assert set(config.enabled_sources()) == {"anthropic", "claude_code", "openai"}
    assert config.sources.claude_code.folders[0].user_email == "you@example.com"


def test_a_missing_default_file_gives_no_sources(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VAULT_CONFIG", raising=False)
    assert load_config().enabled_sources() == {}


def test_a_missing_explicit_file_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("VAULT_CONFIG", str(tmp_path / "nowhere.yaml"))
    with pytest.raises(ConfigError, match=r"nowhere\.yaml: file not found"):
        load_config()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "sources:\n  anthropic:\n    base_urll: http://x\n",
            "sources.anthropic.base_urll: unknown key",
        ),
        (
            "sources:\n  anthropic:\n    base_url: ftp://x\n",
            "sources.anthropic.base_url: Value error, must start with http",
        ),
        (
            "sources:\n  anthropic:\n    max_retries: lots\n",
            "sources.anthropic.max_retries: Input should be a valid integer",
        ),
        (
            "sources:\n  anthropic:\n    usage_group_by: [colour]\n",
            "sources.anthropic.usage_group_by.0: Input should be",
        ),
        ("sources:\n  stripe_typo: {}\n", "sources.stripe_typo: unknown key"),
        ("start_date: yesterday\n", "start_date: Input should be a valid date"),
        ("sources: [1, 2\n", "not valid YAML"),
        ("- just\n- a list\n", "the top level must be a mapping"),
    ],
)
def test_bad_files_name_the_file_key_and_reason(tmp_path, text, expected):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as failure:
        load_config(path)
    assert str(path) in str(failure.value)
    assert expected in str(failure.value)


def test_folders_accept_plain_paths(tmp_path):
    path = _write(
        tmp_path,
        "sources:\n  claude_code:\n    folders: [/data/a, {path: /data/b, user_email: b@x.io}]\n",
    )
    folders = load_config(path).sources.claude_code.folders
    assert [(f.path, f.user_email) for f in folders] == [("/data/a", None), ("/data/b", "b@x.io")]


def test_a_disabled_source_does_not_run(tmp_path):
    path = _write(tmp_path, "sources:\n  anthropic:\n    enabled: false\n  claude_code: {}\n")
    assert set(load_config(path).enabled_sources()) == {"claude_code"}
