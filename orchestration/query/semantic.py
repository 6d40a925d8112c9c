"""`vault query`: the named metrics of the dbt semantic layer, answered by MetricFlow.

The metrics and dimensions are defined once, in `dbt_project/models/semantic/`. MetricFlow's
`mf query` reads them from the semantic manifest that `dbt parse` writes into the project's
target directory, and the connection from `profiles.yml`, whose `VAULT_DB_*` variables a user
would otherwise have to export. This module parses the project when the manifest is missing or
older than a file of it, checks the metric and group-by names against the manifest (so a typing
mistake is answered at once, with the names that exist), checks that the warehouse and the
marts the metrics read are there, and then runs the real `mf query` against the warehouse the
rest of the CLI uses.

mf looks for the manifest at `<project>/target/semantic_manifest.json`, whatever
`DBT_TARGET_PATH` says. When `DBT_TARGET_PATH` points elsewhere (as in the tests), mf runs in
a directory of links to the project's files whose `target` is that path.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sysconfig
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg

from orchestration.warehouse.connection import dbt_env, redact

SEMANTIC_MANIFEST = "semantic_manifest.json"
# The files of the dbt project a semantic manifest is made from.
_PROJECT_INPUTS = ("dbt_project.yml", "profiles.yml", "models", "macros", "seeds")
_LINKED = ("dbt_project.yml", "profiles.yml", "models", "macros", "materializations", "seeds")
_VIEW_DIR = "metricflow-project"
# Time grains offered for every time dimension; MetricFlow accepts a time dimension without
# one too, at its own grain.
_GRAINS = ("day", "week", "month", "quarter", "year")
# The dbt project's directory, as orchestration.dbt.project has it; that module (and
# dagster_dbt with it, two seconds) is imported only when a query runs, not by every
# `vault` command that builds the argument parser.
DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"


class QueryError(Exception):
    """A query could not be run; the message says why and what to do."""

    exit_code = 1


class BadQuery(QueryError):
    """A metric, group-by or option the semantic layer does not have."""

    exit_code = 2


@dataclass(frozen=True)
class Metric:
    """A metric of the manifest; `kind` is MetricFlow's type (simple, ratio, derived...)."""

    name: str
    label: str
    description: str
    kind: str


@dataclass(frozen=True)
class Query:
    """The options of one `mf query`, as `vault query` takes them."""

    metrics: tuple[str, ...]
    group_by: tuple[str, ...] = ()
    where: tuple[str, ...] = ()
    order: tuple[str, ...] = ()
    limit: int | None = None
    start_time: str | None = None
    end_time: str | None = None
    csv: Path | None = None
    explain: bool = False
    decimals: int | None = None

    def mf_arguments(self) -> list[str]:
        """The arguments of `mf query` that ask the same."""
        arguments = ["--metrics", ",".join(self.metrics)]
        if self.group_by:
            arguments += ["--group-by", ",".join(self.group_by)]
        for condition in self.where:
            arguments += ["--where", condition]
        if self.order:
            arguments += ["--order", ",".join(self.order)]
        if self.limit is not None:
            arguments += ["--limit", str(self.limit)]
        if self.start_time:
            arguments += ["--start-time", self.start_time]
        if self.end_time:
            arguments += ["--end-time", self.end_time]
        if self.csv:
            arguments += ["--csv", str(self.csv.resolve())]
        if self.explain:
            arguments.append("--explain")
        if self.decimals is not None:
            arguments += ["--decimals", str(self.decimals)]
        return arguments


# -- the project and its semantic manifest -------------------------------------------------


def target_path() -> Path:
    """Where dbt writes the manifests: `DBT_TARGET_PATH` (relative to the project), else the
    project's `target/`."""
    configured = os.environ.get("DBT_TARGET_PATH", "").strip()
    if not configured:
        return DBT_PROJECT_DIR / "target"
    return (DBT_PROJECT_DIR / configured).resolve()


def ensure_semantic_manifest(target: Path) -> Path:
    """The semantic manifest under `target`, parsed first when missing or older than a file of
    the project."""
    manifest = target / SEMANTIC_MANIFEST
    from orchestration.dbt.project import DbtProjectError, ensure_manifest, parse_project

    if target.resolve() == (DBT_PROJECT_DIR / "target").resolve():
        ensure_manifest()
    if manifest.exists() and manifest.stat().st_mtime >= _newest_input_mtime():
        return manifest
    try:
        parse_project(target)
    except DbtProjectError as error:
        raise QueryError(str(error)) from None
    if not manifest.exists():
        raise QueryError(f"dbt parse wrote no {manifest}")
    return manifest


def _newest_input_mtime() -> float:
    newest = 0.0
    for name in _PROJECT_INPUTS:
        path = DBT_PROJECT_DIR / name
        if path.is_file():
            newest = max(newest, path.stat().st_mtime)
        elif path.is_dir():
            for file in path.rglob("*"):
                if file.is_file():
                    newest = max(newest, file.stat().st_mtime)
    return newest


def metricflow_project(target: Path) -> Path:
    """The directory `mf` runs in: the dbt project itself when `target` is its `target/`,
    else a directory under `target` linking to the project's files, with `target` linking
    back to `target`."""
    if target.resolve() == (DBT_PROJECT_DIR / "target").resolve():
        return DBT_PROJECT_DIR
    view = target / _VIEW_DIR
    view.mkdir(parents=True, exist_ok=True)
    links = {name: DBT_PROJECT_DIR / name for name in _LINKED}
    links["target"] = target.resolve()
    for name, points_to in links.items():
        link = view / name
        if link.is_symlink() and Path(os.readlink(link)) == points_to:
            continue
        if link.is_symlink():
            link.unlink()
        link.symlink_to(points_to, target_is_directory=points_to.is_dir())
    return view


# -- the catalogue: metrics and what they can be grouped by ----------------------------------


class Catalogue:
    """The metrics and group-bys of a semantic manifest, as MetricFlow resolves them."""

    def __init__(self, manifest_path: Path) -> None:
        from metricflow_semantics.model.dbt_manifest_parser import (
            parse_manifest_from_dbt_generated_manifest,
        )
        from metricflow_semantics.model.semantic_manifest_lookup import SemanticManifestLookup

        text = manifest_path.read_text()
        self._raw = json.loads(text)
        self._lookup = SemanticManifestLookup(parse_manifest_from_dbt_generated_manifest(text))

    def metrics(self) -> list[Metric]:
        return sorted(
            (
                Metric(
                    name=metric["name"],
                    label=metric.get("label") or metric["name"],
                    description=" ".join((metric.get("description") or "").split()),
                    kind=metric["type"],
                )
                for metric in self._raw["metrics"]
            ),
            key=lambda metric: metric.name,
        )

    def group_bys(self, metrics: Sequence[str]) -> list[str]:
        """Every name `--group-by` takes for all of `metrics` together, sorted."""
        from metricflow_semantic_interfaces.references import MetricReference
        from metricflow_semantics.model.linkable_element_property import GroupByItemProperty
        from metricflow_semantics.model.semantics.element_filter import GroupByItemSetFilter

        items = self._lookup.metric_lookup.get_common_group_by_items(
            metric_references=[MetricReference(element_name=name) for name in metrics],
            set_filter=GroupByItemSetFilter.create(
                any_properties_denylist=[
                    GroupByItemProperty.METRIC,
                    GroupByItemProperty.DATE_PART,
                ]
            ),
        )
        return sorted({item.spec.dunder_name for item in items.annotated_specs})

    def relations(self, metrics: Iterable[str]) -> list[str]:
        """The tables (schema.name) the semantic models behind `metrics` read."""
        from metricflow_semantic_interfaces.references import MetricReference

        models = set()
        for name in metrics:
            models |= self._lookup.metric_lookup.get_derived_from_semantic_models(
                MetricReference(element_name=name)
            )
        relations = []
        for model in self._raw["semantic_models"]:
            if any(model["name"] == reference.semantic_model_name for reference in models):
                node = model["node_relation"]
                relations.append(f"{node['schema_name']}.{node['alias']}")
        return sorted(relations)

    def check(self, query: Query) -> None:
        """Refuse a metric, group-by or order the manifest does not have, naming those it has."""
        known = [metric.name for metric in self.metrics()]
        unknown = [name for name in query.metrics if name not in known]
        if unknown:
            raise BadQuery(
                f"unknown metric {_listed(unknown)}; the metrics are: {', '.join(known)} "
                "(`vault query --list` describes them)"
            )
        offered = self.group_bys(query.metrics)
        accepted = set(offered) | _without_grain(offered)
        stray = [name for name in query.group_by if name.lower() not in accepted]
        if stray:
            raise BadQuery(
                f"unknown dimension {_listed(stray)} for {', '.join(query.metrics)}; "
                f"they can be grouped by: {', '.join(offered)}"
            )
        selected = {*query.metrics, *(name.lower() for name in query.group_by)}
        for name in query.order:
            if name.lstrip("-").lower() not in selected:
                raise BadQuery(
                    f"cannot order by {name.lstrip('-')!r}: it is neither a metric nor a "
                    "group-by of the query"
                )


def _without_grain(names: Iterable[str]) -> set[str]:
    """`metric_time` for `metric_time__day` and so on: mf takes a time dimension bare."""
    bare = set()
    for name in names:
        head, _, grain = name.rpartition("__")
        if head and grain in _GRAINS:
            bare.add(head)
    return bare


def _listed(names: Sequence[str]) -> str:
    return ", ".join(repr(name) for name in names)


# -- running mf ----------------------------------------------------------------------------


def mf_executable() -> str:
    """The `mf` installed beside this environment's Python, else the one on PATH."""
    beside = Path(sysconfig.get_path("scripts")) / "mf"
    if beside.exists():
        return str(beside)
    return shutil.which("mf") or "mf"


def mf_environment(url: str, project: Path) -> dict[str, str]:
    """The environment `mf` needs to read `project` and reach the warehouse at `url`."""
    return {
        **os.environ,
        **dbt_env(url),
        "DBT_PROJECT_DIR": str(project),
        "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def check_warehouse(url: str, relations: Sequence[str]) -> None:
    """Fail unless the warehouse answers and holds every table in `relations`."""
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            missing = [
                name
                for name in relations
                if conn.execute("select to_regclass(%s)", (name,)).fetchone()[0] is None
            ]
    except psycopg.Error as error:
        raise QueryError(
            f"cannot reach the warehouse at {redact(url)}: {_first_line(error)}"
        ) from error
    if missing:
        raise QueryError(
            f"the warehouse has no {', '.join(missing)} yet; build the warehouse first: "
            "`vault demo`, or `dbt build` against it"
        )


def run_query(query: Query, url: str) -> str:
    """Run `query` through `mf query` against the warehouse at `url`; returns what mf printed."""
    target = target_path()
    catalogue = Catalogue(ensure_semantic_manifest(target))
    catalogue.check(query)
    check_warehouse(url, catalogue.relations(query.metrics))
    project = metricflow_project(target)
    done = subprocess.run(
        [mf_executable(), "query", *query.mf_arguments(), "--quiet"],
        cwd=project,
        env=mf_environment(url, project),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise QueryError(f"mf query failed:\n{_mf_message(done.stdout + done.stderr)}")
    return done.stdout.rstrip()


def _mf_message(output: str) -> str:
    """mf's output without its progress spinner's lines (Braille pattern characters)."""
    lines = [
        line
        for line in output.splitlines()
        if line.strip() and not any("\u2800" <= char <= "\u28ff" for char in line)
    ]
    return "\n".join(lines) or "(mf printed nothing)"


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def list_metrics(target: Path | None = None) -> str:
    """Every metric with its label and description, for `vault query --list`."""
    catalogue = Catalogue(ensure_semantic_manifest(target or target_path()))
    blocks = []
    for metric in catalogue.metrics():
        description = textwrap.fill(
            metric.description, width=92, initial_indent="    ", subsequent_indent="    "
        )
        blocks.append(f"{metric.name} ({metric.kind}): {metric.label}\n{description}")
    return "\n".join(blocks)


def list_group_bys(metrics: Sequence[str], target: Path | None = None) -> str:
    """What `metrics` can be grouped by, one name a line."""
    catalogue = Catalogue(ensure_semantic_manifest(target or target_path()))
    catalogue.check(Query(metrics=tuple(metrics)))
    return "\n".join(catalogue.group_bys(metrics))


# -- the command line ----------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `vault query`: those of `mf query`, plus `--list`."""
    parser.add_argument("--metrics", type=_names, default=(), help="comma-separated metrics")
    parser.add_argument("--group-by", type=_names, default=(), help="dimensions or entities")
    parser.add_argument(
        "--where",
        action="append",
        default=[],
        help="a filter, e.g. \"{{ Dimension('cost_line__cost_kind') }} = 'ai'\" (repeatable)",
    )
    parser.add_argument("--order", type=_names, default=(), help="-name for descending")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--start-time", help="ISO 8601 date or timestamp, inclusive")
    parser.add_argument("--end-time", help="ISO 8601 date or timestamp, inclusive")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="write the rows to FILE")
    parser.add_argument("--explain", action="store_true", help="print the SQL instead")
    parser.add_argument("--decimals", type=int, help="digits after the point in the table")
    parser.add_argument(
        "--list",
        action="store_true",
        help="list the metrics, or with --metrics what they can be grouped by",
    )


def query_from(args: argparse.Namespace) -> Query:
    if not args.metrics:
        raise BadQuery("name at least one metric with --metrics (`vault query --list` lists them)")
    if args.limit is not None and args.limit < 1:
        raise BadQuery(f"--limit must be a positive number of rows, got {args.limit}")
    return Query(
        metrics=tuple(args.metrics),
        group_by=tuple(args.group_by),
        where=tuple(args.where),
        order=tuple(args.order),
        limit=args.limit,
        start_time=args.start_time,
        end_time=args.end_time,
        csv=args.csv,
        explain=args.explain,
        decimals=args.decimals,
    )


def _names(value: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in value.split(",") if name.strip())
