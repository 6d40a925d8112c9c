"""`vault-claude-hook`: the command Claude Code runs on every prompt (a UserPromptSubmit hook).

Claude Code passes the hook a JSON object on standard input (`session_id`, `transcript_path`,
`cwd`, `hook_event_name`, `prompt`) and treats its output as instructions: whatever a
UserPromptSubmit hook prints on standard output is added to the model's context, and exit code
2 blocks the prompt. So this command prints nothing, ever, and always exits 0; anything that
goes wrong is written to the log beside the spool instead (`orchestration.hook.spool`).

For each prompt it builds one `prompt_classified` event (the task class and the rules behind
it, who and where, the prompt's length; the prompt itself only when `VAULT_HOOK_STORE_PROMPT=1`),
appends it to the spool, and, when `VAULT_INGEST_URL` is set, starts the sender
(`orchestration.hook.sender`) detached, in a session of its own with no standard streams, so
the prompt goes on at once and the sender's network time is nobody's wait.

Imports are limited to small standard modules (`json`, `fcntl`, `re` and the like; not even
`typing`, `uuid` or `datetime`, which cost milliseconds each): the hook runs before every
prompt, and the database driver or Dagster would add hundreds.
"""

import contextlib
import io
import json
import os
import sys
import time
from collections.abc import Mapping

from orchestration.hook import HOOK_VERSION
from orchestration.hook.classify import classify, rule_id
from orchestration.hook.spool import append_lines, log, spool_path

INGEST_URL_ENV = "VAULT_INGEST_URL"
STORE_PROMPT_ENV = "VAULT_HOOK_STORE_PROMPT"
USER_EMAIL_ENV = "VAULT_USER_EMAIL"
DEPARTMENT_ENV = "VAULT_DEPARTMENT"
PROJECT_ENV = "VAULT_PROJECT"

# Claude Code's prompts are text typed or pasted by a person; past this the input is not one.
MAX_INPUT_BYTES = 4 * 1024 * 1024


def new_event_id() -> str:
    """A random (version 4) UUID, as text.

    Built here from `os.urandom` as `uuid.uuid4` does, because importing `uuid` imports
    `platform` and costs the hook about 5 ms on every prompt.
    """
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def utc_now_iso(now: float | None = None) -> str:
    """The current time in UTC as ISO 8601 with milliseconds (without importing datetime)."""
    now = time.time() if now is None else now
    millis = int(now * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{millis:03d}+00:00"


def project_dir(cwd: str | None) -> str | None:
    """Claude Code's name for a working directory's folder: every `/` turned into `-`."""
    return cwd.replace("/", "-") if cwd else None


def git_email(home: str | None = None) -> str | None:
    """`user.email` from `~/.gitconfig`, read as a file (running git would cost a process)."""
    path = os.path.join(home or os.path.expanduser("~"), ".gitconfig")
    try:
        with open(path, encoding="utf-8", errors="replace") as config:
            lines = config.read().splitlines()
    except OSError:
        return None
    section = ""
    for line in lines:
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line[1:].split("]", 1)[0].strip().lower()
            continue
        key, sep, value = line.partition("=")
        if section == "user" and sep and key.strip().lower() == "email":
            value = value.split(" #", 1)[0].split(" ;", 1)[0].strip().strip('"').strip()
            return value or None
    return None


def user_email(env: Mapping[str, str]) -> str | None:
    """`VAULT_USER_EMAIL`, else the email in `~/.gitconfig`."""
    return env.get(USER_EMAIL_ENV, "").strip() or git_email(env.get("HOME"))


def _text(value: object) -> str | None:
    """A string field of the input as storable text (no NUL, no lone surrogate), else None."""
    if not isinstance(value, str):
        return None
    return value.replace("\x00", "").encode("utf-8", errors="replace").decode("utf-8")


def prompt_event(
    prompt: str,
    *,
    event_id: str,
    occurred_at: str,
    session_id: str | None,
    cwd: str | None,
    user_email: str | None,
    department: str | None = None,
    project: str | None = None,
    store_prompt: bool = False,
) -> dict[str, object]:
    """The `prompt_classified` event of `prompt`: its class, the rules behind it, its context.

    The prompt's text is in the event only with `store_prompt`; otherwise only its length is.
    """
    result = classify(prompt)
    event: dict[str, object] = {
        "event_id": event_id,
        "occurred_at": occurred_at,
        "event_type": "prompt_classified",
        "session_id": session_id,
        "cwd": cwd,
        "project_dir": project_dir(cwd),
        "user_email": user_email,
        "department": department,
        "project": project,
        "task_class": result.task_class,
        "matched_rules": [
            {"task_class": rule.task_class, "rule": rule_id(rule), "weight": rule.weight}
            for rule in result.matches
        ],
        "prompt_chars": len(prompt),
        "hook_version": HOOK_VERSION,
    }
    if store_prompt:
        event["prompt"] = prompt
    return event


def build_event(payload: Mapping[str, object], env: Mapping[str, str]) -> dict[str, object]:
    """The event for one hook input, with who and what from the environment."""
    return prompt_event(
        _text(payload.get("prompt")) or "",
        event_id=new_event_id(),
        occurred_at=utc_now_iso(),
        session_id=_text(payload.get("session_id")),
        cwd=_text(payload.get("cwd")),
        user_email=user_email(env),
        department=env.get(DEPARTMENT_ENV, "").strip() or None,
        project=env.get(PROJECT_ENV, "").strip() or None,
        store_prompt=env.get(STORE_PROMPT_ENV) == "1",
    )


def event_line(event: Mapping[str, object]) -> str:
    """An event as one spool line: the same compact JSON as `warehouse.push.dumps_event`.

    Not that function itself: importing `orchestration.warehouse.push` imports psycopg.
    """
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def start_sender() -> None:
    """Start `orchestration.hook.sender` detached: its own session, no standard streams.

    With no inherited streams Claude Code does not wait for it (it reads the hook's output to
    the end), and in its own session a Ctrl-C in the terminal does not stop it mid-send. `-P`
    keeps the working directory, the engineer's project, off the sender's import path.
    """
    argv = [sys.executable, "-P", "-m", "orchestration.hook.sender"]
    devnull = os.devnull
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    try:
        os.posix_spawn(sys.executable, argv, os.environ, file_actions=actions, setsid=True)
    except (AttributeError, NotImplementedError, TypeError):
        # A platform without posix_spawn's setsid; subprocess costs more to import, so it is
        # only the fallback.
        import subprocess

        subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )


def run(stdin: io.BufferedIOBase, env: Mapping[str, str]) -> None:
    """Classify the prompt on `stdin`, spool its event and, if configured, start the sender."""
    spool = spool_path(env)
    raw = stdin.read(MAX_INPUT_BYTES + 1)
    if len(raw) > MAX_INPUT_BYTES:
        log(spool, f"input larger than {MAX_INPUT_BYTES} bytes: prompt not recorded")
        return
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError) as error:  # RecursionError: nested too deeply
        log(spool, f"input is not JSON ({error}): prompt not recorded")
        return
    if not isinstance(payload, dict):
        log(spool, "input is not a JSON object: prompt not recorded")
        return
    event_name = payload.get("hook_event_name")
    if event_name not in (None, "UserPromptSubmit"):
        log(spool, f"hook run for {event_name!r}, not UserPromptSubmit: nothing recorded")
        return
    append_lines(spool, [event_line(build_event(payload, env))])
    if env.get(INGEST_URL_ENV):
        start_sender()


def main() -> int:
    """The console script: never prints, never fails (see the module's docstring)."""
    try:
        run(sys.stdin.buffer, os.environ)
    except BaseException as error:  # a hook that raises would reach Claude Code
        with contextlib.suppress(BaseException):
            log(spool_path(), f"hook failed: {type(error).__name__}: {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
