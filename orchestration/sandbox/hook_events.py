"""The events the Claude Code hook would have sent for the sandbox company's engineers.

Derived from the same conversations as the transcripts (`transcripts.sessions_for_day`): one
`prompt_classified` event per prompt an engineer typed (a `user` line whose content is text,
not a tool result), at that line's time, with the session's id and working directory and the
engineer's email. Nothing else is set, as on a laptop where only the hook is installed: dbt
finds the department and project from the taxonomy seeds.

The class comes from running the hook's own classifier on a prompt written for the occasion:
each session has a task drawn from a mix that fits its project (research projects prototype,
customer-facing ones get customer work, the internal batch system has incidents), and its
prompts are phrased for that task and that repository, with follow-ups ("yes, go ahead") that
the rules call `other` and now and then a prompt about something else. The transcript's own
prompt text is not reused: it is a small fixed set that says nothing about the project.

A few sessions get a `manual_override` (`vault classify`) a little after their last prompt:
some whose prompts mostly missed their task, and some feature sessions that their engineer
marks as customer work. Everything derives from (seed, session id), like the transcripts.
"""

import json
import random
import uuid
from datetime import date, datetime, timedelta

from orchestration.hook.main import prompt_event
from orchestration.hook.override import override_event
from orchestration.sandbox.company import Company
from orchestration.sandbox.transcripts import Session, sessions_for_day

# Stored as the raw rows' run_id, so that a demo run can replace its own earlier events.
SANDBOX_CLIENT_ID = "claude-code-hook:sandbox"

# Project kind -> how often a session is each kind of task (relative weights).
TASK_MIX: dict[str, dict[str, int]] = {
    "feature": {
        "feature_development": 30,
        "bug_fix": 20,
        "customer_work": 12,
        "tests": 10,
        "refactoring": 8,
        "code_review": 8,
        "documentation": 5,
        "ops_incident": 5,
        "proof_of_concept": 2,
    },
    "internal": {
        "feature_development": 20,
        "bug_fix": 20,
        "ops_incident": 15,
        "refactoring": 12,
        "tests": 12,
        "code_review": 8,
        "documentation": 8,
        "proof_of_concept": 5,
    },
    "research": {
        "proof_of_concept": 40,
        "feature_development": 15,
        "tests": 10,
        "documentation": 10,
        "bug_fix": 10,
        "refactoring": 8,
        "code_review": 7,
    },
}

# Repository -> (parts of it a prompt talks about, its source files, its test files).
REPOSITORIES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "checkout-api": (
        ("the basket service", "the payment webhook", "the promo code parser"),
        ("src/basket.py", "src/webhooks.py", "src/promos.py"),
        ("tests/test_basket.py", "tests/test_webhooks.py"),
    ),
    "checkout-web": (
        ("the cart page", "the address form", "the order summary"),
        ("src/cart/Cart.tsx", "src/forms/Address.tsx", "src/summary/Order.tsx"),
        ("src/cart/Cart.test.tsx", "src/forms/Address.test.tsx"),
    ),
    "support-copilot": (
        ("the reply drafter", "the ticket router", "the tone checker"),
        ("copilot/drafts.py", "copilot/routing.py", "copilot/tone.py"),
        ("tests/test_drafts.py", "tests/test_routing.py"),
    ),
    "search-service": (
        ("the ranking step", "the embedding cache", "the query parser"),
        ("search/rank.py", "search/cache.py", "search/query.py"),
        ("tests/test_rank.py", "tests/test_query.py"),
    ),
    "invoice-reader": (
        ("the PDF extractor", "the VAT checker", "the batch scheduler"),
        ("reader/pdf.py", "reader/vat.py", "reader/batches.py"),
        ("tests/test_pdf.py", "tests/test_vat.py"),
    ),
    "agent-lab": (
        ("the planner agent", "the tool router", "the memory store"),
        ("lab/planner.py", "lab/tools.py", "lab/memory.py"),
        ("tests/test_planner.py",),
    ),
    "eval-harness": (
        ("the grading loop", "the score report", "the dataset loader"),
        ("harness/grade.py", "harness/report.py", "harness/datasets.py"),
        ("tests/test_grade.py",),
    ),
}

# Task -> prompts an engineer would type for it; {part}, {file} and {test_file} come from the
# repository. A test checks that the classifier gives each its task for every repository.
PROMPTS: dict[str, tuple[str, ...]] = {
    "feature_development": (
        "implement a new feature in {part}: let users save a draft",
        "add support for multiple currencies to {part}",
        "build an endpoint in {file} that lists recent orders",
        "create a migration for the new settings of {part}",
    ),
    "bug_fix": (
        "{part} crashes when the input is empty; find the bug",
        "fix the wrong totals that {file} returns since yesterday",
        "why does {part} throw an exception on retry? debug it",
        "this traceback comes from {file}, what is broken?",
    ),
    "refactoring": (
        "refactor {file}; it does three things at once",
        "rename the helpers in {file} and simplify their callers",
        "clean up the dead code around {part}",
    ),
    "tests": (
        "write unit tests for {part}",
        "add a test case for the empty input to {test_file}",
        "raise the coverage of {file} with pytest",
        "this test of {part} is flaky on CI, make it deterministic",
    ),
    "documentation": (
        "update the README with how {part} is configured",
        "write docstrings for the public functions in {file}",
        "document {part} in docs/architecture.md",
    ),
    "code_review": (
        "review my pull request for {part}",
        "look over the diff in {file} and give feedback",
        "explain what {file} does before I review it",
    ),
    "ops_incident": (
        "production is down: {part} returns 5xx errors, help me find the root cause",
        "the nightly job of {part} ran out of memory; read the log",
        "we got paged for an incident on {part}; roll back the last deploy",
        "raise the memory limit of {part} in k8s/deployment.yaml",
    ),
    "proof_of_concept": (
        "prototype {part} with a smaller model, quick and dirty is fine",
        "a throwaway experiment: can {part} run without its cache?",
        "sketch a proof of concept for streaming answers from {part}",
    ),
    "customer_work": (
        "a customer reports that {part} rejects their data; reproduce it with their sample",
        "escalation from support: the customer needs {part} to export their history",
        "set up {part} for the onboarding of a new customer",
    ),
}
FOLLOW_UPS: tuple[str, ...] = (
    "yes, go ahead",
    "continue",
    "thanks, that looks right",
    "ok, do the same for the other one",
    "try again",
)

_FOLLOW_UP_CHANCE = 0.2
_OFF_TASK_CHANCE = 0.1
# A session whose prompts mostly missed its task is corrected this often by its engineer.
_CORRECTION_CHANCE = 0.5
# A feature session is marked as done for a customer this often.
_CUSTOMER_MARK_CHANCE = 0.08


def prompt_text(task: str, repo: str, rng: random.Random) -> str:
    """A prompt for `task` in repository `repo`."""
    parts, files, test_files = REPOSITORIES[repo]
    template = rng.choice(PROMPTS[task])
    return template.format(
        part=rng.choice(parts), file=rng.choice(files), test_file=rng.choice(test_files)
    )


def _event_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _typed_prompts(session: Session) -> list[dict]:
    """The session's transcript lines that are prompts a person typed."""
    prompts = []
    for text in session.lines:
        try:
            line = json.loads(text)
        except ValueError:  # the truncated last line some files end with
            continue
        content = (line.get("message") or {}).get("content")
        if line.get("type") == "user" and isinstance(content, str) and not line["isSidechain"]:
            prompts.append(line)
    return prompts


def session_events(company: Company, session: Session) -> list[dict]:
    """The hook's events for one conversation: its prompts, and an override when it has one."""
    rng = random.Random(f"{company.seed}|claude-code-hook|{session.session_id}")
    checkout = session.checkout
    mix = TASK_MIX[company.project(checkout.project).kind]
    task = rng.choices(list(mix), weights=list(mix.values()))[0]
    events = []
    for number, line in enumerate(_typed_prompts(session)):
        if number and rng.random() < _FOLLOW_UP_CHANCE:
            text = rng.choice(FOLLOW_UPS)
        elif rng.random() < _OFF_TASK_CHANCE:
            text = prompt_text(rng.choice([t for t in mix if t != task]), checkout.repo, rng)
        else:
            text = prompt_text(task, checkout.repo, rng)
        events.append(
            prompt_event(
                text,
                event_id=_event_id(rng),
                occurred_at=line["timestamp"],
                session_id=session.session_id,
                cwd=line["cwd"],
                user_email=checkout.person.email,
            )
        )
    if not events:
        return events
    on_task = sum(event["task_class"] == task for event in events)
    override = None
    if 2 * on_task < len(events) and rng.random() < _CORRECTION_CHANCE:
        override = task
    elif task == "feature_development" and rng.random() < _CUSTOMER_MARK_CHANCE:
        override = "customer_work"
    if override:
        last = datetime.fromisoformat(events[-1]["occurred_at"].replace("Z", "+00:00"))
        marked_at = last + timedelta(minutes=rng.randint(2, 30))
        events.append(
            override_event(
                session.session_id,
                override,
                user_email=checkout.person.email,
                event_id=_event_id(rng),
                occurred_at=marked_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            )
        )
    return events


def hook_events(company: Company, start: date, end: date) -> list[dict]:
    """Every hook event of the conversations that start in [start, end), in time order."""
    events = []
    day = start
    while day < end:
        for session in sessions_for_day(company, day):
            events.extend(session_events(company, session))
        day += timedelta(days=1)
    events.sort(key=lambda event: (event["occurred_at"], event["event_id"]))
    return events
