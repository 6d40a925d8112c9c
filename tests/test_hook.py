"""The Claude Code hook: its rules, the installed command as Claude Code runs it, the spool and
sender against a real PostgreSQL, `vault classify`, and the session classes dbt derives."""

import csv
import json
import os
import socket
import stat
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import yaml

from orchestration.dbt.project import DBT_PROJECT_DIR, dbt_executable
from orchestration.demo import load_hook_events
from orchestration.hook.classify import (
    KEYWORDS,
    MAX_CLASSIFIED_CHARS,
    PATHS,
    TASK_CLASSES,
    classify,
    rule_id,
)
from orchestration.hook.override import UnknownTaskClass, override_event
from orchestration.hook.spool import drop_prefix, pending_bytes, read_batch
from orchestration.sandbox.company import build_company
from orchestration.sandbox.hook_events import PROMPTS, REPOSITORIES, hook_events
from orchestration.warehouse.connection import dbt_env
from orchestration.warehouse.push import grant_ingest

BIN = Path(sys.executable).parent
HOOK = BIN / "vault-claude-hook"
VAULT = BIN / "vault"
INT_MODEL = "intermediate.int_claude_code_sessions_classified"


# -- the rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("implement the new feature for saved carts", "feature_development"),
        ("add an endpoint that lists invoices", "feature_development"),
        ("the checkout page crashes on submit", "bug_fix"),
        ("it doesn't work since the upgrade, there is a traceback", "bug_fix"),
        ("refactor the parser into smaller functions", "refactoring"),
        ("renaming the settings loader", "refactoring"),
        ("write unit tests for the basket", "tests"),
        ("the pytest run is flaky", "tests"),
        ("update the docstrings and the README", "documentation"),
        ("review this pull request", "code_review"),
        ("production is down, we have an outage", "ops_incident"),
        ("prototype a quick and dirty agent", "proof_of_concept"),
        ("a customer escalation about missing invoices", "customer_work"),
        ("thanks, go ahead", "other"),
        ("", "other"),
        ("   \n\t ", "other"),
    ],
)
def test_each_class_has_prompts_it_recognises(prompt, expected):
    assert classify(prompt).task_class == expected


@pytest.mark.parametrize(
    ("prompt", "expected", "rules"),
    [
        ("see conftest.py", "tests", ["path:conftest.py"]),
        ("look at src/api/tests/helpers.py", "tests", ["keyword:test", "path:tests/"]),
        ("open CONTRIBUTING.md", "documentation", ["path:*.md"]),
        ("update the Dockerfile", "ops_incident", ["path:dockerfile"]),
        ("change .github/workflows/ci.yml", "ops_incident", ["path:.github/workflows/"]),
        ("edit infra/main.tf", "ops_incident", ["path:*.tf"]),
        ("bump replicas in k8s/api.yaml", "ops_incident", ["keyword:k8s", "path:k8s/"]),
        ("(see 'docs/setup.rst'.)", "documentation", ["keyword:docs", "path:docs/", "path:*.rst"]),
        # A directory pattern matches whole components only.
        ("open mytests/x.py", "other", []),
        # Paths are hints; the words say what is being done.
        (
            "fix the crash in tests/test_api.py",
            "bug_fix",
            [
                "keyword:crash",
                "keyword:fix",
                "keyword:test",
                "path:tests/",
                "path:test_*.py",
            ],
        ),
    ],
)
def test_paths_in_a_prompt_count_as_evidence(prompt, expected, rules):
    result = classify(prompt)
    assert (result.task_class, [rule_id(rule) for rule in result.matches]) == (expected, rules)


@pytest.mark.parametrize(
    ("prompt", "expected", "tied"),
    [
        # fail (bug_fix, 2) against nightly job + log (ops_incident, 1 + 1).
        ("the nightly job failed; read the log", "ops_incident", {"bug_fix", "ops_incident"}),
        # split (refactoring, 1) against add (feature_development, 1).
        ("split the module and add a flag", "refactoring", {"refactoring", "feature_development"}),
        # explain (code_review, 1) against comment (documentation, 1).
        ("explain the comment", "documentation", {"documentation", "code_review"}),
    ],
)
def test_a_tie_goes_to_the_class_listed_first(prompt, expected, tied):
    result = classify(prompt)
    scores = {}
    for rule in result.matches:
        scores[rule.task_class] = scores.get(rule.task_class, 0) + rule.weight
    assert set(scores) == tied and len(set(scores.values())) == 1, scores
    assert result.task_class == expected == min(tied, key=TASK_CLASSES.index)


def test_keywords_match_whole_words_and_their_endings():
    def rules(prompt):
        return [rule_id(rule) for rule in classify(prompt).matches]

    assert rules("fixes, fixed, fixing") == ["keyword:fix"]
    assert rules("a prefix") == []
    assert "keyword:fix" not in rules("a new fixture")
    assert rules("Renaming and tidying") == ["keyword:rename", "keyword:tidy"]
    assert rules("it does not work") == ["keyword:does not work"]
    assert rules("the latest build") == ["keyword:build"]  # not "test"


def test_each_rule_counts_once_and_only_the_first_characters_are_read():
    once, many = classify("error"), classify("error " * 500)
    assert once == many
    late = "x " * MAX_CLASSIFIED_CHARS + "outage"
    assert classify(late).task_class == "other"
    assert classify(late[-200:]).task_class == "ops_incident"


def test_the_rule_table_is_well_formed():
    assert TASK_CLASSES[-1] == "other" and len(set(TASK_CLASSES)) == len(TASK_CLASSES)
    seen = {}
    for table in (KEYWORDS, PATHS):
        assert set(table) <= set(TASK_CLASSES) - {"other"}
        for task_class, rules in table.items():
            for pattern, weight in rules.items():
                assert pattern == pattern.lower() and weight in (1, 2, 3), pattern
                assert seen.setdefault(pattern, task_class) == task_class, (
                    f"{pattern!r} is a rule of two classes"
                )


def test_the_seed_and_the_dbt_tests_list_the_hooks_classes_in_its_order():
    with (DBT_PROJECT_DIR / "seeds" / "task_classes.csv").open() as seed:
        rows = sorted(csv.DictReader(seed), key=lambda row: int(row["tie_break_rank"]))
    assert [row["task_class"] for row in rows] == list(TASK_CLASSES)
    models = yaml.safe_load(
        (DBT_PROJECT_DIR / "models/intermediate/claude_code/_claude_code__models.yml").read_text()
    )
    (model,) = models["models"]
    column = next(column for column in model["columns"] if column["name"] == "task_class")
    accepted = next(test for test in column["data_tests"] if "accepted_values" in test)
    assert accepted["accepted_values"]["arguments"]["values"] == list(TASK_CLASSES)


@pytest.mark.parametrize("task", sorted(PROMPTS))
def test_every_sandbox_prompt_gets_its_task_in_every_repository(task):
    for template in PROMPTS[task]:
        for repo, (parts, files, test_files) in REPOSITORIES.items():
            for part in parts:
                for file in files:
                    prompt = template.format(part=part, file=file, test_file=test_files[0])
                    assert classify(prompt).task_class == task, (repo, prompt)


# -- the command, as Claude Code runs it ---------------------------------------------------


def _payload(prompt="fix the crash in the basket service", session_id="s-1", **extra):
    return {
        "session_id": session_id,
        "transcript_path": f"/home/dev/.claude/projects/-home-dev-src-api/{session_id}.jsonl",
        "cwd": "/home/dev/src/api",
        "hook_event_name": "UserPromptSubmit",
        "prompt": prompt,
        **extra,
    }


def _env(home, spool, **extra):
    return {"PATH": os.environ["PATH"], "HOME": str(home), "VAULT_HOOK_SPOOL": str(spool), **extra}


def _start_hook(stdin, env):
    process = subprocess.Popen(
        [str(HOOK)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    return process, stdin if isinstance(stdin, bytes) else json.dumps(stdin).encode()


def _run_hook(stdin, env, timeout=30):
    """Run the installed hook to the end; returns (exit code, stdout, stderr, seconds)."""
    started = time.perf_counter()
    process, data = _start_hook(stdin, env)
    out, err = process.communicate(data, timeout=timeout)
    return process.returncode, out, err, time.perf_counter() - started


def _spooled(spool):
    if not spool.exists():
        return []
    return [json.loads(line) for line in spool.read_text().splitlines() if line.strip()]


def _wait_for(condition, timeout=45.0, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {message}")


def _closed_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


def test_the_hook_prints_nothing_and_spools_one_private_line(tmp_path):
    spool = tmp_path / "state" / "claude-hook.jsonl"
    env = _env(tmp_path, spool, VAULT_USER_EMAIL="Dev@Example.com", VAULT_PROJECT="agent-lab")
    code, out, err, _ = _run_hook(_payload(), env)
    assert (code, out, err) == (0, b"", b"")
    (event,) = _spooled(spool)
    assert stat.S_IMODE(spool.stat().st_mode) == 0o600
    assert stat.S_IMODE(spool.parent.stat().st_mode) == 0o700
    assert uuid.UUID(event.pop("event_id")).version == 4
    assert event.pop("occurred_at").endswith("+00:00")
    assert event == {
        "event_type": "prompt_classified",
        "session_id": "s-1",
        "cwd": "/home/dev/src/api",
        "project_dir": "-home-dev-src-api",
        "user_email": "Dev@Example.com",
        "department": None,
        "project": "agent-lab",
        "task_class": "bug_fix",
        "matched_rules": [
            {"task_class": "bug_fix", "rule": "keyword:crash", "weight": 3},
            {"task_class": "bug_fix", "rule": "keyword:fix", "weight": 2},
        ],
        "prompt_chars": 35,
        "hook_version": "1",
    }


def test_the_prompt_is_stored_only_when_the_engineer_opts_in(tmp_path):
    spool = tmp_path / "claude-hook.jsonl"
    for opt_in in ("", "0", "yes"):
        _run_hook(_payload("a secret plan"), _env(tmp_path, spool, VAULT_HOOK_STORE_PROMPT=opt_in))
    _run_hook(_payload("a secret plan"), _env(tmp_path, spool, VAULT_HOOK_STORE_PROMPT="1"))
    events = _spooled(spool)
    assert ["prompt" in event for event in events] == [False, False, False, True]
    assert "a secret plan" not in "".join(json.dumps(event) for event in events[:3])
    assert events[3]["prompt"] == "a secret plan"


def test_the_email_comes_from_gitconfig_when_not_given(tmp_path):
    (tmp_path / ".gitconfig").write_text(
        "[core]\n\temail = not-this@example.com\n[user]\n\tname = Dev\n"
        '\temail = "dev@example.com"  # work\n'
    )
    spool = tmp_path / "claude-hook.jsonl"
    _run_hook(_payload(), _env(tmp_path, spool))
    _run_hook(_payload(), _env(tmp_path, spool, VAULT_USER_EMAIL="other@example.com"))
    (tmp_path / ".gitconfig").unlink()
    _run_hook(_payload(), _env(tmp_path, spool))
    emails = [event["user_email"] for event in _spooled(spool)]
    assert emails == ["dev@example.com", "other@example.com", None]


def test_the_default_spool_is_private_under_the_home_folder(tmp_path):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    assert _run_hook(_payload(), env)[:3] == (0, b"", b"")
    spool = tmp_path / ".local" / "state" / "vault" / "claude-hook.jsonl"
    assert len(_spooled(spool)) == 1
    assert stat.S_IMODE(spool.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "stdin",
    [
        b"",
        b"not json at all",
        b"\xff\xfe\x00garbage",
        b"[1, 2, 3]",
        b'{"prompt": "fix it"',
        b"x" * (4 * 1024 * 1024 + 10),
    ],
    ids=["empty", "text", "binary", "array", "truncated", "oversized"],
)
def test_garbage_input_is_logged_not_raised(tmp_path, stdin):
    spool = tmp_path / "claude-hook.jsonl"
    code, out, err, _ = _run_hook(stdin, _env(tmp_path, spool))
    assert (code, out, err) == (0, b"", b"")
    assert not spool.exists()
    assert "prompt not recorded" in (tmp_path / "claude-hook.log").read_text()


def test_odd_field_values_still_make_a_storable_event(tmp_path):
    spool = tmp_path / "claude-hook.jsonl"
    payload = _payload("fix\x00 it \ud800", session_id=12, cwd=None)
    _run_hook(json.dumps(payload).encode(), _env(tmp_path, spool, VAULT_HOOK_STORE_PROMPT="1"))
    (event,) = _spooled(spool)
    assert (event["session_id"], event["cwd"], event["project_dir"]) == (None, None, None)
    assert event["prompt"] == "fix it ?" and event["task_class"] == "bug_fix"


def test_other_hook_events_are_not_recorded(tmp_path):
    spool = tmp_path / "claude-hook.jsonl"
    payload = _payload(hook_event_name="Stop")
    assert _run_hook(payload, _env(tmp_path, spool))[:3] == (0, b"", b"")
    assert not spool.exists()
    assert "not UserPromptSubmit" in (tmp_path / "claude-hook.log").read_text()


def test_an_unwritable_spool_still_exits_0_silently(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, out, err, _ = _run_hook(_payload(), _env(tmp_path, blocker / "claude-hook.jsonl"))
    assert (code, out, err) == (0, b"", b"")


@pytest.mark.parametrize("url", ["postgresql://nobody@127.0.0.1:{port}/x", "not a url"])
def test_an_unreachable_warehouse_keeps_the_event_and_exits_0(tmp_path, url):
    spool = tmp_path / "claude-hook.jsonl"
    env = _env(tmp_path, spool, VAULT_INGEST_URL=url.format(port=_closed_port()))
    code, out, err, _ = _run_hook(_payload(), env)
    assert (code, out, err) == (0, b"", b"")
    log = tmp_path / "claude-hook.log"
    _wait_for(lambda: log.exists() and "could not send" in log.read_text(), message="the log")
    assert len(_spooled(spool)) == 1


def test_the_hook_does_not_wait_for_its_sender(tmp_path):
    spool = tmp_path / "claude-hook.jsonl"
    # A server that accepts connections and never answers: the sender waits for its
    # connect timeout, the hook must not.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"postgresql://nobody@127.0.0.1:{silent.getsockname()[1]}/x"
        code, out, err, seconds = _run_hook(_payload(), _env(tmp_path, spool, VAULT_INGEST_URL=url))
        assert (code, out, err) == (0, b"", b"")
        assert seconds < 5
        assert len(_spooled(spool)) == 1


def test_the_hook_path_loads_neither_the_database_driver_nor_dagster():
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, orchestration.hook.main; print(*sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    heavy = ("psycopg", "dagster", "orchestration.warehouse", "uuid", "datetime")
    assert [name for name in loaded if name.startswith(heavy)] == []


def test_twenty_hooks_at_once_lose_no_line(tmp_path):
    spool = tmp_path / "claude-hook.jsonl"
    env = _env(tmp_path, spool)
    started = [_start_hook(_payload(session_id=f"s-{n}"), env) for n in range(20)]
    for process, data in started:
        process.communicate(data, timeout=60)
        assert process.returncode == 0
    events = _spooled(spool)
    assert sorted(event["session_id"] for event in events) == sorted(f"s-{n}" for n in range(20))
    assert len({event["event_id"] for event in events}) == 20


def test_lines_appended_while_the_spool_is_being_emptied_are_kept(tmp_path):
    # The sender's two steps on the spool, as fast as they go, against 40 hooks writing:
    # a hook that wrote to a spool file being replaced would lose its line.
    spool = tmp_path / "claude-hook.jsonl"
    started = [_start_hook(_payload(session_id=f"s-{n}"), _env(tmp_path, spool)) for n in range(40)]
    for process, data in started:
        process.stdin.write(data)
        process.stdin.close()
    taken = []
    while any(process.poll() is None for process, _ in started) or pending_bytes(str(spool)):
        lines, consumed = read_batch(str(spool), 1000)
        if lines:
            drop_prefix(str(spool), consumed)
            taken.extend(json.loads(line)["session_id"] for line in lines)
    assert sorted(taken) == sorted(f"s-{n}" for n in range(40))


# -- the sender, against a real PostgreSQL -------------------------------------------------


@pytest.fixture
def ingest_url(conn, database_url):
    """The session database as an insert-only role of the test's own, like a laptop has it."""
    role = f"vault_ingest_{uuid.uuid4().hex[:8]}"
    grant_ingest(conn, role)
    parts = urlsplit(database_url)
    yield parts._replace(netloc=f"{role}@{parts.netloc.split('@')[-1]}").geturl()
    conn.execute(f'drop owned by "{role}"')
    conn.execute(f'drop role "{role}"')


def _received(conn):
    return conn.execute(
        "select natural_key, record ->> 'session_id' from raw.claude_code_hook_events"
    ).fetchall()


def test_events_arrive_exactly_once_and_the_spool_empties(tmp_path, conn, ingest_url):
    spool = tmp_path / "claude-hook.jsonl"
    env = _env(tmp_path, spool, VAULT_INGEST_URL=ingest_url)
    for n in range(5):
        assert _run_hook(_payload(session_id=f"s-{n}"), env)[:3] == (0, b"", b"")
    _wait_for(lambda: len(_received(conn)) >= 5 and not _spooled(spool), message="5 events")
    time.sleep(1)  # a late sender must find nothing left to send twice
    rows = _received(conn)
    assert sorted(session for _, session in rows) == [f"s-{n}" for n in range(5)]
    assert len({key for key, _ in rows}) == 5
    run_ids = conn.execute("select distinct run_id from raw.claude_code_hook_events").fetchall()
    assert run_ids == [(f"claude-code-hook:{os.uname().nodename}",)]


def test_events_wait_while_the_warehouse_is_down_and_all_arrive_later(tmp_path, conn, ingest_url):
    spool = tmp_path / "claude-hook.jsonl"
    log = tmp_path / "claude-hook.log"
    down = _env(tmp_path, spool, VAULT_INGEST_URL=f"postgresql://x@127.0.0.1:{_closed_port()}/x")
    for n in range(4):
        _run_hook(_payload(session_id=f"s-{n}"), down)
    _wait_for(lambda: log.exists() and "could not send" in log.read_text(), message="a failure")
    assert len(_spooled(spool)) == 4
    assert _received(conn) == []

    up = _env(tmp_path, spool, VAULT_INGEST_URL=ingest_url)
    _run_hook(_payload(session_id="s-4"), up)
    _wait_for(lambda: len(_received(conn)) >= 5 and not _spooled(spool), message="5 events")
    time.sleep(1)
    rows = _received(conn)
    assert sorted(session for _, session in rows) == [f"s-{n}" for n in range(5)]
    assert len({key for key, _ in rows}) == len(rows)


def test_twenty_hooks_at_once_with_senders_deliver_every_event_once(tmp_path, conn, ingest_url):
    spool = tmp_path / "claude-hook.jsonl"
    env = _env(tmp_path, spool, VAULT_INGEST_URL=ingest_url)
    started = [_start_hook(_payload(session_id=f"s-{n:02d}"), env) for n in range(20)]
    for process, data in started:
        process.communicate(data, timeout=60)
    _wait_for(lambda: len(_received(conn)) >= 20 and not _spooled(spool), message="20 events")
    time.sleep(1)
    rows = _received(conn)
    assert sorted(session for _, session in rows) == [f"s-{n:02d}" for n in range(20)]
    assert len({key for key, _ in rows}) == 20


def test_an_unreadable_spool_line_is_set_aside_and_the_rest_is_sent(tmp_path, conn, ingest_url):
    spool = tmp_path / "claude-hook.jsonl"
    spool.write_text('not json\n{"event_id": "e-0"}\n')
    env = _env(tmp_path, spool, VAULT_INGEST_URL=ingest_url)
    _run_hook(_payload(session_id="s-ok"), env)
    _wait_for(lambda: len(_received(conn)) == 1 and not _spooled(spool), message="the event")
    assert [session for _, session in _received(conn)] == ["s-ok"]
    rejected = [json.loads(line) for line in Path(f"{spool}.rejected").read_text().splitlines()]
    assert [(item["line"], item["reason"]) for item in rejected] == [
        ("not json", "Expecting value: line 1 column 1 (char 0)"),
        ('{"event_id": "e-0"}', "no event_id or occurred_at"),
    ]


# -- vault classify ------------------------------------------------------------------------


def test_an_unknown_class_is_refused_with_the_valid_ones(tmp_path):
    with pytest.raises(UnknownTaskClass, match="valid classes: ops_incident, customer_work"):
        override_event("s-1", "meetings", user_email=None)
    spool = tmp_path / "claude-hook.jsonl"
    result = subprocess.run(
        [str(VAULT), "classify", "s-1", "meetings"],
        env=_env(tmp_path, spool, VAULT_INGEST_URL="postgresql://x@127.0.0.1:1/x"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "unknown task class 'meetings'" in result.stderr
    assert all(name in result.stderr for name in TASK_CLASSES)
    assert not spool.exists()


DAYS = (date(2026, 11, 9), date(2026, 11, 11))


@pytest.fixture(scope="module")
def classified(module_database, tmp_path_factory):
    """Hook prompts, a `vault classify`, the sandbox's events, then dbt; yields the URL."""
    home = tmp_path_factory.mktemp("home")
    spool = home / "claude-hook.jsonl"
    role = f"vault_ingest_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(module_database, autocommit=True) as admin:
        grant_ingest(admin, role)
    parts = urlsplit(module_database)
    ingest = parts._replace(netloc=f"{role}@{parts.netloc.split('@')[-1]}").geturl()
    env = _env(home, spool, VAULT_INGEST_URL=ingest, VAULT_USER_EMAIL="dev@example.com")
    prompts = [
        ("hook-a", "the basket crashes on checkout"),
        ("hook-a", "fix the bug in the discount code"),
        ("hook-a", "write a test for it"),
        ("hook-b", "write unit tests for the parser"),
        ("hook-b", "thanks"),
    ]
    for session, prompt in prompts:
        _run_hook(_payload(prompt, session_id=session), env)
    with psycopg.connect(module_database, autocommit=True) as admin:
        _wait_for(lambda: len(_received(admin)) >= 5, message="the prompts")
    result = subprocess.run(
        [str(VAULT), "classify", "hook-a", "documentation"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (result.returncode, result.stdout.strip()) == (
        0,
        "session hook-a marked documentation (sent)",
    ), result.stderr
    sandbox_spool = tmp_path_factory.mktemp("sandbox") / "claude-hook.jsonl"
    sent = load_hook_events(module_database, sandbox_spool, *DAYS)
    assert sent == len(hook_events(build_company(7), *DAYS))

    target = tmp_path_factory.mktemp("dbt")
    build = subprocess.run(
        [
            dbt_executable(),
            "build",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--select",
            "+int_claude_code_sessions_classified",
        ],
        env={
            **os.environ,
            **dbt_env(module_database),
            "DBT_TARGET_PATH": str(target / "target"),
            "DBT_LOG_PATH": str(target / "logs"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        },
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert build.returncode == 0, build.stdout[-4000:]
    try:
        yield module_database
    finally:
        with psycopg.connect(module_database, autocommit=True) as admin:
            admin.execute(f'drop owned by "{role}"')
            admin.execute(f'drop role "{role}"')


def _sessions(url, *session_ids):
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select session_id, task_class, class_origin, rule_task_class, prompt_count, "
            f"user_email from {INT_MODEL} where session_id = any(%s) order by session_id",
            (list(session_ids),),
        ).fetchall()


def test_vault_classify_wins_over_the_rules(classified):
    assert _sessions(classified, "hook-a", "hook-b") == [
        ("hook-a", "documentation", "manual", "bug_fix", 3, "dev@example.com"),
        ("hook-b", "tests", "rules", "tests", 2, "dev@example.com"),
    ]


def test_the_sandbox_sessions_all_have_a_task_class(classified):
    events = hook_events(build_company(7), *DAYS)
    prompted = {e["session_id"] for e in events if e["event_type"] == "prompt_classified"}
    overridden = {
        e["session_id"]: e["task_class"] for e in events if e["event_type"] != "prompt_classified"
    }
    assert overridden, "the sandbox has manual overrides"
    with psycopg.connect(classified) as conn:
        rows = conn.execute(
            f"select session_id, task_class, class_origin from {INT_MODEL} "
            "where session_id not like 'hook-%'"
        ).fetchall()
    assert {session for session, _, _ in rows} == prompted
    manual = {session: task_class for session, task_class, origin in rows if origin == "manual"}
    assert manual == overridden
