"""What kind of task an engineer's prompt to Claude Code is, by explainable rules.

The rules are data: `KEYWORDS` and `PATHS` give each task class weighted keywords and file path
patterns. A prompt scores, for each class, the sum of the weights of that class's rules found in
it; every rule counts once however often it appears, so a pasted log that repeats "error" a
hundred times weighs no more than one mention. The class with the highest score wins; a prompt
that matches nothing is `other`. A tie goes to the class listed first in `TASK_CLASSES`.

Keywords. Matched against the prompt's words (runs of letters and digits, lower case; so
`doesn't` is the two words `doesn t`, and `test_billing.py` is `test billing py`). A keyword of
several words matches those words in a row. Each word also matches itself followed by one of
the endings in `ENDINGS` (`fix` matches `fixes`, `fixed` and `fixing`, but not `prefix` or
`fixture`), and a word ending in `e` also matches its `-ing` form (`rename`, `renaming`).
Irregular forms (`broken`, `debugging`) are keywords of their own.

Paths. Matched against the prompt's path-like tokens: whitespace-separated pieces, stripped of
quotes, brackets and trailing punctuation, that hold a `/` or a `.` or are a bare file name
some rule names (`Dockerfile`). A pattern ending in `/` is a directory and matches a path that
has it as whole components (`tests/` matches `tests/unit/x.py` and `src/tests/`, not
`mytests/x.py` nor the bare word `tests`); any other pattern is a glob (`*` for any run of
characters) matched against the file name, the path's last component. Case does not matter.

Every path pattern weighs 1: the words say what is being done, a path only where. A path's
words count as words too (`tests/test_api.py` holds the word `test`), so naming a test file is
good evidence of test work, while "fix the crash in tests/test_api.py" remains a bug fix.
Infrastructure files (Dockerfile, CI workflows, Kubernetes and Terraform) point to operations
work, which this taxonomy files under `ops_incident`.

Everything here is pure and deterministic: the same prompt always gives the same class and the
same rules, in table order. Only the first `MAX_CLASSIFIED_CHARS` characters are read, which
bounds the time a huge paste can take.

The module imports only `re`, `fnmatch` and `collections`, small modules that Python has
usually loaded already when it starts: it runs inside the Claude Code hook, on every prompt.
"""

import fnmatch
import re
from collections import namedtuple

# In tie-break order. The classes that put work in a cost category of its own come first
# (a tie between an incident and a refactoring is booked as the incident, one between customer
# work and a feature as customer work), then the narrower engineering intents before the broader
# ones; feature_development, the broadest, is last before `other`, which nothing matches.
TASK_CLASSES: tuple[str, ...] = (
    "ops_incident",
    "customer_work",
    "proof_of_concept",
    "bug_fix",
    "tests",
    "documentation",
    "code_review",
    "refactoring",
    "feature_development",
    "other",
)
FALLBACK_CLASS = "other"

# Word endings a keyword's words may carry: fix -> fixes, fixed, fixing; rename -> renamed.
ENDINGS: tuple[str, ...] = ("s", "es", "d", "ed", "ing")

MAX_CLASSIFIED_CHARS = 20_000

# Weights: 3 for a word that names the class on its own ("refactor", "outage"), 2 for strong
# evidence, 1 for a hint that only counts beside others.
KEYWORDS: dict[str, dict[str, int]] = {
    "ops_incident": {
        "incident": 3,
        "outage": 3,
        "postmortem": 3,
        "post mortem": 3,
        "pagerduty": 3,
        "paged": 3,
        "sev1": 3,
        "sev2": 3,
        "is down": 3,
        "went down": 3,
        "on call": 2,
        "alert": 2,
        "rollback": 2,
        "roll back": 2,
        "hotfix": 2,
        "latency spike": 3,
        "out of memory": 2,
        "oom": 2,
        "oomkilled": 3,
        "5xx": 2,
        "disk full": 3,
        "production": 1,
        "prod": 1,
        "deploy": 1,
        "deployment": 1,
        "nightly job": 1,
        "cron": 1,
        "log": 1,
        "kubernetes": 1,
        "k8s": 1,
        "helm": 1,
        "terraform": 1,
        "docker": 1,
        "infrastructure": 1,
        "pipeline": 1,
    },
    "customer_work": {
        "customer": 3,
        "support ticket": 3,
        "escalation": 3,
        "escalate": 3,
        "on behalf of": 2,
        "requested by": 2,
        "client request": 3,
        "onboarding": 2,
        "bespoke": 2,
        "sla": 2,
        "tenant": 1,
    },
    "proof_of_concept": {
        "prototype": 3,
        "proof of concept": 3,
        "poc": 3,
        "feasibility": 3,
        "throwaway": 3,
        "quick and dirty": 3,
        "hack together": 3,
        "experiment": 2,
        "try out": 2,
        "mvp": 2,
        "sketch": 2,
        "spike": 1,
        "explore": 1,
        "research": 1,
        "demo": 1,
    },
    "bug_fix": {
        "bug": 3,
        "broken": 3,
        "crash": 3,
        "regression": 3,
        "traceback": 3,
        "stack trace": 3,
        "doesn't work": 3,
        "does not work": 3,
        "not working": 3,
        "off by one": 3,
        "fix": 2,
        "fail": 2,
        "exception": 2,
        "debug": 2,
        "debugging": 2,
        "root cause": 2,
        "race condition": 2,
        "error": 1,
        "wrong": 1,
        "unexpected": 1,
        "why does": 1,
        "retry": 1,
    },
    "tests": {
        "test": 2,
        "unit test": 3,
        "integration test": 3,
        "test case": 3,
        "coverage": 2,
        "pytest": 2,
        "fixture": 2,
        "flaky": 2,
        "e2e": 2,
        "tdd": 2,
        "mock": 1,
        "assert": 1,
    },
    "documentation": {
        "documentation": 3,
        "docs": 3,
        "docstring": 3,
        "readme": 3,
        "changelog": 2,
        "document": 2,
        "tutorial": 2,
        "runbook": 2,
        "write up": 2,
        "comment": 1,
        "guide": 1,
    },
    "code_review": {
        "review": 3,
        "code review": 3,
        "lgtm": 3,
        "pull request": 2,
        "pr": 2,
        "look over": 2,
        "nit": 2,
        "feedback": 1,
        "diff": 1,
        "explain": 1,
        "walk me through": 1,
        "audit": 1,
    },
    "refactoring": {
        "refactor": 3,
        "tech debt": 3,
        "technical debt": 3,
        "dead code": 3,
        "rename": 2,
        "clean up": 2,
        "cleanup": 2,
        "tidy": 2,
        "simplify": 2,
        "restructure": 2,
        "reorganise": 2,
        "reorganize": 2,
        "deduplicate": 2,
        "decouple": 2,
        "extract": 1,
        "readability": 2,
        "split": 1,
        "move": 1,
    },
    "feature_development": {
        "new feature": 3,
        "feature": 2,
        "implement": 2,
        "integrate": 2,
        "user story": 3,
        "add": 1,
        "build": 1,
        "create": 1,
        "introduce": 1,
        "support for": 1,
        "endpoint": 1,
        "migration": 1,
        "accept": 1,
        "allow": 1,
    },
}

PATHS: dict[str, dict[str, int]] = {
    "ops_incident": {
        "dockerfile": 1,
        "docker-compose*.yml": 1,
        "docker-compose*.yaml": 1,
        ".github/workflows/": 1,
        ".gitlab-ci.yml": 1,
        "jenkinsfile": 1,
        "k8s/": 1,
        "helm/": 1,
        "charts/": 1,
        "terraform/": 1,
        "*.tf": 1,
        "*.tfvars": 1,
        "ansible/": 1,
    },
    "tests": {
        "tests/": 1,
        "test/": 1,
        "__tests__/": 1,
        "test_*.py": 1,
        "*_test.py": 1,
        "*_test.go": 1,
        "*.test.*": 1,
        "*.spec.*": 1,
        "conftest.py": 1,
    },
    "documentation": {
        "docs/": 1,
        "doc/": 1,
        "*.md": 1,
        "*.rst": 1,
        "*.adoc": 1,
        "readme*": 1,
        "changelog*": 1,
        "mkdocs.yml": 1,
    },
}

Rule = namedtuple("Rule", "task_class kind pattern weight")
Rule.__doc__ = "One row of the tables: `kind` is keyword or path, `pattern` as written there."

Classification = namedtuple("Classification", "task_class score matches")
Classification.__doc__ = (
    "The winning class, its score, and every rule found in the prompt (all classes, table order)."
)

_WORD = re.compile(r"[a-z0-9]+")
# Pieces of a path token to strip: quotes and brackets around it, punctuation after it.
_PATH_TRIM_LEADING = "'\"`([{<"
_PATH_TRIM_TRAILING = "'\"`)]}>,;:!?."


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _build_keyword_index() -> dict[str, list[tuple[tuple[str, ...], Rule]]]:
    """First word of each keyword -> (its words, its rule), for one dictionary look-up a word."""
    index: dict[str, list[tuple[tuple[str, ...], Rule]]] = {}
    for task_class, keywords in KEYWORDS.items():
        for keyword, weight in keywords.items():
            words = tuple(_words(keyword))
            rule = Rule(task_class, "keyword", keyword, weight)
            index.setdefault(words[0], []).append((words, rule))
    return index


_KEYWORD_INDEX = _build_keyword_index()
_PATH_RULES = tuple(
    Rule(task_class, "path", pattern, weight)
    for task_class, patterns in PATHS.items()
    for pattern, weight in patterns.items()
)
# File names some rule names exactly, which count as paths without a `/` or a `.`.
_BARE_NAMES = frozenset(
    rule.pattern
    for rule in _PATH_RULES
    if not rule.pattern.endswith("/") and not any(c in rule.pattern for c in "*?[.")
)


def _bases(word: str) -> list[str]:
    """The forms a keyword word may have to match `word`: itself, and without its ending."""
    bases = [word]
    for ending in ENDINGS:
        if len(word) > len(ending) + 1 and word.endswith(ending):
            bases.append(word[: -len(ending)])
    if len(word) > 4 and word.endswith("ing"):
        bases.append(word[:-3] + "e")  # renaming -> rename
    return bases


def _keyword_rules(words: list[str]) -> set[Rule]:
    found: set[Rule] = set()
    for position, word in enumerate(words):
        for base in _bases(word):
            for keyword_words, rule in _KEYWORD_INDEX.get(base, ()):
                if rule in found:
                    continue
                following = words[position + 1 : position + len(keyword_words)]
                if len(following) == len(keyword_words) - 1 and all(
                    k in _bases(w) for w, k in zip(following, keyword_words[1:], strict=True)
                ):
                    found.add(rule)
    return found


def path_tokens(text: str) -> list[str]:
    """The tokens of `text` that look like file paths, lower case, in order."""
    tokens = []
    for piece in text.split():
        token = piece.lstrip(_PATH_TRIM_LEADING).rstrip(_PATH_TRIM_TRAILING).lower()
        if token and ("/" in token or "." in token or token in _BARE_NAMES):
            tokens.append(token)
    return tokens


def _path_matches(token: str, pattern: str) -> bool:
    if pattern.endswith("/"):
        return "/" + pattern in "/" + token
    name = token.rstrip("/").rsplit("/", 1)[-1]
    return bool(name) and fnmatch.fnmatchcase(name, pattern)


def _path_rules(tokens: list[str]) -> set[Rule]:
    return {
        rule for rule in _PATH_RULES if any(_path_matches(token, rule.pattern) for token in tokens)
    }


def _table_order() -> dict[Rule, int]:
    rules = [
        Rule(task_class, "keyword", keyword, weight)
        for task_class, keywords in KEYWORDS.items()
        for keyword, weight in keywords.items()
    ]
    rules += _PATH_RULES
    rules.sort(key=lambda rule: TASK_CLASSES.index(rule.task_class))  # stable: table order kept
    return {rule: position for position, rule in enumerate(rules)}


_TABLE_ORDER = _table_order()


def classify(prompt: str) -> Classification:
    """The task class of `prompt`, its score, and the rules that matched, in table order."""
    text = (prompt or "")[:MAX_CLASSIFIED_CHARS]
    found = _keyword_rules(_words(text)) | _path_rules(path_tokens(text))
    matches = tuple(sorted(found, key=_TABLE_ORDER.__getitem__))
    scores: dict[str, int] = {}
    for rule in matches:
        scores[rule.task_class] = scores.get(rule.task_class, 0) + rule.weight
    if not scores:
        return Classification(FALLBACK_CLASS, 0, ())
    # Highest score first; among equals, the class listed first in TASK_CLASSES.
    winner = min(scores, key=lambda name: (-scores[name], TASK_CLASSES.index(name)))
    return Classification(winner, scores[winner], matches)


def rule_id(rule: Rule) -> str:
    """How a rule is named in events and reports: `keyword:fix`, `path:tests/`."""
    return f"{rule.kind}:{rule.pattern}"
