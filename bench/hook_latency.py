"""How long the Claude Code hook holds up a prompt, against an empty Python start, in one run.

    .venv/bin/python bench/hook_latency.py [--runs 50] [--ingest-url postgresql://...]

Claude Code waits for a UserPromptSubmit hook before it sends the prompt, so the hook's whole
run, interpreter start included, is added to every prompt. Both commands are started the same
way (a subprocess fed the same JSON on standard input, waited for to the end), alternately, so
that noise on the machine falls on both: the installed `vault-claude-hook` console script, and
`python -c pass` with the same interpreter. The difference is what the hook itself costs.

The spool goes to a temporary folder. With `--ingest-url` each run also starts the detached
sender (its own run is not waited for, as in Claude Code); without it nothing is sent.
`PYTHONDONTWRITEBYTECODE` is removed from the commands' environment: on an engineer's machine
Python caches the hook's compiled modules after its first run, and a benchmark that recompiled
them every time would measure the compiler.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPT = {
    "session_id": "6f1c2b9e-0d4a-4e57-9a8b-3c2d1e0f4a5b",
    "transcript_path": "/home/dev/.claude/projects/-home-dev-src-api/6f1c2b9e.jsonl",
    "cwd": "/home/dev/src/api",
    "hook_event_name": "UserPromptSubmit",
    "prompt": "the retry test in tests/test_webhooks.py fails since the last change; fix the bug",
}


def _time(command: list[str], stdin: bytes, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, input=stdin, env=env, capture_output=True, check=True)
    return (time.perf_counter() - started) * 1000


def _summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--ingest-url", default="")
    args = parser.parse_args()

    python = Path(sys.executable)
    hook = python.with_name("vault-claude-hook")
    if not hook.exists():
        sys.exit(f"{hook} is not installed: run `.venv/bin/pip install -e .` first")
    stdin = json.dumps(PROMPT).encode()
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "VAULT_HOOK_SPOOL": str(Path(folder) / "claude-hook.jsonl")}
        env.pop("VAULT_INGEST_URL", None)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if args.ingest_url:
            env["VAULT_INGEST_URL"] = args.ingest_url
        # One of each first, so that both find the interpreter and its files in the page cache.
        _time([str(hook)], stdin, env)
        _time([str(python), "-c", "pass"], stdin, env)
        hook_ms, bare_ms = [], []
        for _ in range(args.runs):
            hook_ms.append(_time([str(hook)], stdin, env))
            bare_ms.append(_time([str(python), "-c", "pass"], stdin, env))
        spool = Path(env["VAULT_HOOK_SPOOL"])
        if args.ingest_url:
            # Let the last senders finish before the folder goes, or their events go with it.
            deadline = time.monotonic() + 60
            while spool.exists() and spool.stat().st_size and time.monotonic() < deadline:
                time.sleep(0.2)
        left = len(spool.read_text().splitlines()) if spool.exists() else 0

    hook_median, hook_p95 = _summary(hook_ms)
    bare_median, bare_p95 = _summary(bare_ms)
    print(f"{args.runs} runs each, milliseconds of wall time per run")
    print(f"{'command':<28}{'median':>10}{'p95':>10}")
    print(f"{'vault-claude-hook':<28}{hook_median:>10.1f}{hook_p95:>10.1f}")
    print(f"{'python -c pass':<28}{bare_median:>10.1f}{bare_p95:>10.1f}")
    extra_median, extra_p95 = hook_median - bare_median, hook_p95 - bare_p95
    print(f"{'difference (the hook)':<28}{extra_median:>10.1f}{extra_p95:>10.1f}")
    if args.ingest_url:
        print(f"events left unsent in the spool: {left} (of {args.runs + 1} sent)")
    else:
        print(f"events spooled: {left} (expected {args.runs + 1})")


if __name__ == "__main__":
    main()
