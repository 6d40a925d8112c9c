"""`vault classify SESSION_ID CLASS`: an engineer's own word on what a session was for.

The rules guess a class per prompt; a person who knows better records a `manual_override`
event for the whole session, and `int_claude_code_sessions_classified` lets the latest such
event win over the rules.

With `VAULT_INGEST_URL` set (an engineer's machine) the event takes the hook's own way: it is
appended to the spool and the spool is sent at once, so it waits there, like any prompt's event,
if the warehouse cannot be reached. Without it (on the warehouse's host, as its owner) the event
is written straight to the warehouse that `warehouse_url()` names.
"""

import os
from collections.abc import Mapping

import psycopg

from orchestration.hook import HOOK_VERSION
from orchestration.hook.classify import TASK_CLASSES
from orchestration.hook.main import (
    INGEST_URL_ENV,
    event_line,
    new_event_id,
    user_email,
    utc_now_iso,
)
from orchestration.hook.sender import HOOK_TABLE, send_spool
from orchestration.hook.spool import append_lines, log, spool_path
from orchestration.warehouse.push import copy_events, ensure_push_tables

# How long `vault classify` waits for a hook's sender that is running to finish, so that it
# can say whether its event went out.
OVERRIDE_WAIT_S = 15.0


class UnknownTaskClass(ValueError):
    """The class given is not one of `TASK_CLASSES`."""


def override_event(
    session_id: str,
    task_class: str,
    *,
    user_email: str | None,
    event_id: str | None = None,
    occurred_at: str | None = None,
) -> dict[str, object]:
    """The `manual_override` event saying session `session_id` was `task_class` work.

    `event_id` and `occurred_at` default to a new id and now.
    """
    if task_class not in TASK_CLASSES:
        raise UnknownTaskClass(
            f"unknown task class {task_class!r}; valid classes: {', '.join(TASK_CLASSES)}"
        )
    if not session_id.strip():
        raise ValueError("a session id is needed (the `session_id` of the Claude Code session)")
    return {
        "event_id": event_id or new_event_id(),
        "occurred_at": occurred_at or utc_now_iso(),
        "event_type": "manual_override",
        "session_id": session_id.strip(),
        "task_class": task_class,
        "user_email": user_email,
        "hook_version": HOOK_VERSION,
    }


def record_override(session_id: str, task_class: str, env: Mapping[str, str] | None = None) -> str:
    """Record the override; returns what happened, in a sentence for the terminal."""
    env = os.environ if env is None else env
    event = override_event(session_id, task_class, user_email=user_email(env))
    ingest_url = env.get(INGEST_URL_ENV, "").strip()
    if ingest_url:
        spool = spool_path(env)
        append_lines(spool, [event_line(event)])
        try:
            result = send_spool(spool, ingest_url, wait_s=OVERRIDE_WAIT_S)
        except psycopg.Error as error:
            log(spool, f"override not sent yet ({type(error).__name__}: {error})")
            return (
                f"session {event['session_id']} marked {task_class}; the warehouse could not be "
                f"reached, so the event waits in {spool} and goes with the next prompt"
            )
        if result.busy:
            return (
                f"session {event['session_id']} marked {task_class}; a sender already running "
                "sends it"
            )
        return f"session {event['session_id']} marked {task_class} (sent)"

    from orchestration.warehouse.connection import warehouse_url

    with psycopg.connect(warehouse_url(), autocommit=True) as conn:
        ensure_push_tables(conn)
        copy_events(conn, HOOK_TABLE, [event], client_id=f"vault-classify:{os.uname().nodename}")
    return f"session {event['session_id']} marked {task_class} (written to the warehouse)"
