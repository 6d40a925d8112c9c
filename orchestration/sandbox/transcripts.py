"""Claude Code transcripts for the sandbox company's engineers, in the format the CLI writes.

Claude Code appends one JSON object per line to `<config>/projects/<project-dir>/<id>.jsonl`,
where `<project-dir>` is the working directory with every `/` turned into `-`. Prompts and tool
results are `user` lines without usage; each model response is an `assistant` line carrying
`message.id`, `requestId`, `message.model` and `message.usage` (`input_tokens` counts only the
uncached input). The generated files keep the quirks a loader must cope with:

- a response with several content blocks is written as several lines that repeat the same
  `message.id`, `requestId` and usage, so usage must be deduplicated on that pair;
- the model can change mid-conversation, and sub-agent calls appear as `isSidechain` lines;
- one engineer runs an old build whose usage has no 5-minute/1-hour `cache_creation` split;
- some conversations run past midnight UTC;
- on some days a file ends in a truncated line, as when the CLI is killed mid-write.

Layout. Transcripts carry no email, so the collector is configured with one folder per person,
the way each engineer's machine has its own `~/.claude/projects`. A sandbox root therefore holds
one sub-root per person, named after the local part of their email::

    <root>/<local-part>/<project-dir>/<id>.jsonl
    e.g. <root>/rosa.zhou/-home-rzhou-src-checkout-api/6f1c...e2.jsonl

`user_folders()` gives the folder-to-email table to configure a collector with, and
`person_for_project_dir()` answers from the project folder alone, since every checkout path
holds its owner's unix login (`/home/<login>/src/<repo>`).

Everything derives from (seed, person, UTC day): a day's conversations are the same whichever
range is written, and writing twice gives identical bytes. A conversation belongs to the day it
starts on.
"""

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from orchestration.sandbox.company import HAIKU, OPUS, SONNET, Checkout, Company, Person

_ID_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

# How often each kind of user opens Claude Code: (weekday chance, weekend chance, conversations
# on an active day, prompts per conversation).
_HABITS = {
    "heavy": (0.95, 0.3, (2, 4), (6, 16)),
    "regular": (0.85, 0.1, (1, 3), (4, 11)),
    "light": (0.4, 0.0, (1, 1), (2, 6)),
}

_PROMPTS = (
    "why does the webhook handler retry twice after a timeout?",
    "add a test for the empty basket case",
    "rename the settings loader and update its callers",
    "the nightly job failed; read the log and find out why",
    "make the parser accept ISO week dates",
    "tidy up the error messages of the command line",
    "write a migration for the new currency column",
    "profile the slow search endpoint and suggest a fix",
    "explain what this module does before I change it",
    "split this function; it does three things",
)
_REPLIES = (
    "I'll read the relevant code first.",
    "Found the cause: the timeout path queues the job a second time.",
    "Done; the tests pass.",
    "That change touches three callers; updating them now.",
    "The log shows a connection reset during the upload step.",
    "Here is a smaller version with the same behaviour.",
)
_TOOLS = (
    ("Read", "file_path", "{cwd}/src/handlers.py"),
    ("Grep", "pattern", "def retry"),
    ("Edit", "file_path", "{cwd}/src/parser.py"),
    ("Bash", "command", "pytest -q"),
    ("Glob", "pattern", "**/*.sql"),
)
_TOPICS = ("retry-budget", "currency-column", "search-latency", "week-dates", "cli-errors")

# The system prompt and tool definitions Claude Code sends first, cached for an hour.
_SYSTEM_PREFIX = (12000, 18000)
# Past this, the CLI compacts the conversation into a summary and carries on from it.
_COMPACT_AT = 160_000


@dataclass(frozen=True)
class Session:
    """One transcript file: its lines (without newlines) and which ones are truncated."""

    checkout: Checkout
    session_id: str
    lines: tuple[str, ...]
    malformed: tuple[int, ...]  # 1-based line numbers

    @property
    def relative_path(self) -> Path:
        folder = Path(self.checkout.person.local_part) / self.checkout.project_dir
        return folder / f"{self.session_id}.jsonl"


def _token(rng: random.Random, prefix: str, length: int) -> str:
    return prefix + "".join(rng.choice(_ID_ALPHABET) for _ in range(length))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _stamp(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def _preferred_model(company: Company, person: Person) -> str:
    # A person's habit, not a day's: seeded by the person alone.
    rng = random.Random(f"{company.seed}|claude-code-model|{person.email}")
    return rng.choices((SONNET, OPUS), (80, 20))[0]


class _Writer:
    """Builds one conversation line by line, keeping the clock, the context and the uuids."""

    def __init__(
        self, rng: random.Random, checkout: Checkout, session_id: str, start: datetime
    ) -> None:
        self.rng = rng
        self.checkout = checkout
        self.session_id = session_id
        self.clock = start
        self.branch = rng.choice(("main", f"feat/{rng.choice(_TOPICS)}"))
        self.version = checkout.person.claude_code_version or ""
        self.split_cache = not self.version.startswith("1.")
        self.parent: str | None = None
        self.context = 0
        self.model = ""
        self.lines: list[dict[str, Any]] = []

    def _envelope(self, kind: str, sidechain: bool = False) -> dict[str, Any]:
        line_uuid = _uuid(self.rng)
        line = {
            "parentUuid": self.parent,
            "isSidechain": sidechain,
            "userType": "external",
            "cwd": self.checkout.cwd,
            "sessionId": self.session_id,
            "version": self.version,
            "gitBranch": self.branch,
            "type": kind,
            "uuid": line_uuid,
            "timestamp": _stamp(self.clock),
        }
        if not sidechain:
            self.parent = line_uuid
        return line

    def wait(self, low: float, high: float) -> None:
        self.clock += timedelta(seconds=self.rng.uniform(low, high))

    def user(self, content: Any) -> None:
        line = self._envelope("user")
        line["message"] = {"role": "user", "content": content}
        self.lines.append(line)

    def _usage(self, model: str, sidechain: bool) -> dict[str, Any]:
        """The next call's tokens; the conversation's context grows, a sub-agent's is its own."""
        context = self.rng.randint(0, 8000) if sidechain else self.context
        if context > _COMPACT_AT:
            context = self.rng.randint(20000, 30000)
        one_hour = self.rng.randint(*_SYSTEM_PREFIX) if context == 0 else 0
        fresh, cache_read = self.rng.randint(200, 6000), context
        if not sidechain and context and model != self.model:
            # Each model has its own cache: after `/model` the history is written afresh.
            fresh, cache_read = fresh + context, 0
        output = self.rng.randint(40, 1500)
        usage: dict[str, Any] = {
            "input_tokens": self.rng.randint(1, 12),
            "cache_creation_input_tokens": fresh + one_hour,
            "cache_read_input_tokens": cache_read,
            "output_tokens": output,
        }
        if self.split_cache:
            usage["cache_creation"] = {
                "ephemeral_5m_input_tokens": fresh,
                "ephemeral_1h_input_tokens": one_hour,
            }
            usage["service_tier"] = "standard"
        if not sidechain:
            self.context = cache_read + fresh + one_hour + output
            self.model = model
        return usage

    def assistant(
        self, model: str, blocks: list[dict[str, Any]], *, sidechain: bool = False
    ) -> None:
        """One API response; each content block becomes its own line sharing the usage."""
        usage = self._usage(model, sidechain)
        message_id = _token(self.rng, "msg_01", 22)
        request_id = _token(self.rng, "req_011C", 20)
        for index, block in enumerate(blocks):
            line = self._envelope("assistant", sidechain)
            last = index == len(blocks) - 1
            line["message"] = {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [block],
                "stop_reason": ("tool_use" if block["type"] == "tool_use" else "end_turn")
                if last
                else None,
                "stop_sequence": None,
                "usage": usage,
            }
            line["requestId"] = request_id
            self.lines.append(line)


def _conversation(
    company: Company, checkout: Checkout, day: date, number: int, late: bool
) -> tuple[str, list[dict[str, Any]]]:
    person = checkout.person
    rng = random.Random(f"{company.seed}|claude-code|{person.email}|{day.isoformat()}|{number}")
    session_id = _uuid(rng)
    if late:
        start_at = time(23, rng.randint(0, 50), rng.randint(0, 59))
    else:
        start_at = time(rng.randint(7, 18), rng.randint(0, 59), rng.randint(0, 59))
    start = datetime.combine(day, start_at, UTC) + timedelta(milliseconds=rng.randint(0, 999))
    writer = _Writer(rng, checkout, session_id, start)
    model = _preferred_model(company, person)
    prompts = rng.randint(*_HABITS[person.claude_code][3])
    # One conversation in five changes model part-way (`/model`).
    switch_at = rng.randint(1, prompts) if rng.random() < 0.2 else None
    for prompt in range(prompts):
        if prompt == switch_at:
            model = rng.choice([m for m in (SONNET, OPUS, HAIKU) if m != model])
        writer.user(rng.choice(_PROMPTS))
        for _ in range(rng.randint(0, 3)):
            name, argument, value = rng.choice(_TOOLS)
            tool_id = _token(rng, "toolu_01", 22)
            call = {
                "type": "tool_use",
                "id": tool_id,
                "name": name,
                "input": {argument: value.format(cwd=checkout.cwd)},
            }
            writer.wait(2, 25)
            if rng.random() < 0.25:
                writer.assistant(model, [{"type": "text", "text": rng.choice(_REPLIES)}, call])
            else:
                writer.assistant(model, [call])
            if rng.random() < 0.06:
                # A sub-agent explores the repository on a cheaper model.
                for _ in range(rng.randint(2, 3)):
                    writer.wait(1, 10)
                    text = {"type": "text", "text": rng.choice(_REPLIES)}
                    writer.assistant(HAIKU, [text], sidechain=True)
            writer.wait(0.2, 8)
            result = {"type": "tool_result", "tool_use_id": tool_id, "content": "ok"}
            writer.user([result])
        writer.wait(2, 25)
        writer.assistant(model, [{"type": "text", "text": rng.choice(_REPLIES)}])
        writer.wait(15, 400)
    return session_id, writer.lines


def sessions_for_day(company: Company, day: date) -> list[Session]:
    """Every conversation that starts on `day` (UTC), across all Claude Code users."""
    sessions: list[Session] = []
    for person in company.people:
        if not person.uses_claude_code:
            continue
        rng = random.Random(f"{company.seed}|claude-code-day|{person.email}|{day.isoformat()}")
        weekday_chance, weekend_chance, count_range, _ = _HABITS[person.claude_code]
        chance = weekend_chance if day.weekday() >= 5 else weekday_chance
        if rng.random() >= chance:
            continue
        checkouts = [c for c in company.checkouts if c.person == person]
        count = rng.randint(*count_range)
        late = person.claude_code == "heavy" and rng.random() < 0.15
        for number in range(count):
            checkout = rng.choice(checkouts)
            is_late = late and number == count - 1
            session_id, lines = _conversation(company, checkout, day, number, is_late)
            encoded = [json.dumps(line, separators=(",", ":")) for line in lines]
            sessions.append(Session(checkout, session_id, tuple(encoded), ()))
    sessions.sort(key=lambda session: session.relative_path.as_posix())
    _truncate_one(company, day, sessions)
    return sessions


def _truncate_one(company: Company, day: date, sessions: list[Session]) -> None:
    """On about half the days, cut the last line of one file short, as a killed CLI leaves it."""
    rng = random.Random(f"{company.seed}|claude-code-faults|{day.isoformat()}")
    if not sessions or rng.random() >= 0.5:
        return
    index = rng.randrange(len(sessions))
    session = sessions[index]
    last = session.lines[-1]
    cut = last[: rng.randint(len(last) // 3, 2 * len(last) // 3)]
    sessions[index] = Session(
        session.checkout, session.session_id, (*session.lines[:-1], cut), (len(session.lines),)
    )


def write_transcripts(company: Company, root: Path, start: date, end: date) -> list[Path]:
    """Write the conversations starting in [start, end) under `root`; the files written."""
    paths: list[Path] = []
    day = start
    while day < end:
        for session in sessions_for_day(company, day):
            path = root / session.relative_path
            path.parent.mkdir(parents=True, exist_ok=True)
            text = "\n".join(session.lines)
            # A complete file ends with a newline; a truncated one stops mid-line.
            if not session.malformed:
                text += "\n"
            path.write_bytes(text.encode())
            paths.append(path)
        day += timedelta(days=1)
    return sorted(paths)


def user_folders(company: Company, root: Path) -> dict[Path, str]:
    """Each Claude Code user's sub-root under `root`, with the email to configure it with."""
    return {
        root / person.local_part: person.email
        for person in company.people
        if person.uses_claude_code
    }


def person_for_project_dir(company: Company, project_dir: str) -> Person | None:
    """Whose checkout a transcript project folder is, or None for a folder not in the company."""
    for checkout in company.checkouts:
        if checkout.project_dir == project_dir:
            return checkout.person
    return None
