"""A deterministic stand-in for the vendors, for the demo and for tests; never production code.

`build_company()` makes a small fictional company; the vendor fakes answer from its activity:
`SandboxServer` serves the Anthropic Admin API (usage, cost and Claude Code analytics reports)
and OpenAI's organization usage and costs over real loopback HTTP, `write_transcripts()` writes
Claude Code transcripts to disk, `hook_events` and `product_usage` make the events the Claude
Code hook and the company's own services would push, and `write_seeds()` writes the dbt seeds
that map all of it to departments, teams and projects. Same seed, same bytes.
"""

from orchestration.sandbox.company import Company, build_company
from orchestration.sandbox.seeds import write_seeds
from orchestration.sandbox.server import SandboxServer
from orchestration.sandbox.transcripts import (
    person_for_project_dir,
    user_folders,
    write_transcripts,
)

__all__ = [
    "Company",
    "SandboxServer",
    "build_company",
    "person_for_project_dir",
    "user_folders",
    "write_seeds",
    "write_transcripts",
]
