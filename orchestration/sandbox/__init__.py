"""A deterministic stand-in for the vendors, for the demo and for tests; never production code.

`build_company()` makes a small fictional company; the vendor fakes answer from its activity:
`SandboxServer` serves, over real loopback HTTP, the Anthropic Admin API, OpenAI's organization
usage and costs, the BigQuery billing export and Cloud Billing catalog, Azure Cost Management
(and its managed-identity token), Prometheus, Kubernetes, Datadog, Stripe, Mixpanel, GitHub and
an internal metrics API; `aws_ce` feeds moto's server the company's Cost Explorer results;
`cloud` is its cloud estate, `focus_files` writes its GPU provider's FOCUS exports, and
`custom_sources` its SQLite ticket database and gateway logs; `write_transcripts()` writes
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
