"""The options of `vault report`, and one run: check them, read the marts, render.

Options are checked before the warehouse is touched, so a typing mistake is answered at once
(exit code 2), whether or not a warehouse is running.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from orchestration.reports import cfo, customer, department, forecast, project
from orchestration.reports.errors import BadInput, MissingMart, WarehouseError
from orchestration.reports.export import document, render_csv, render_json
from orchestration.reports.html import render_html
from orchestration.reports.model import Options, Report, Table
from orchestration.reports.periods import parse_month, parse_quarter
from orchestration.reports.reading import Marts, open_marts
from orchestration.reports.text import render_text
from orchestration.warehouse.embedded import EmbeddedWarehouseError

REPORTS: dict[str, ModuleType] = {
    "cfo": cfo,
    "department": department,
    "project": project,
    "customer": customer,
    "forecast": forecast,
}
NAMES = (*REPORTS, "all")
FORMATS = ("table", "json", "csv")


@dataclass(frozen=True)
class Outcome:
    """What a run printed and, with `--html`, the page it wrote."""

    output: str
    page: Path | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the mart reports, on `vault report`'s parser."""
    parser.add_argument("--format", choices=FORMATS, default="table", help="table (default)")
    parser.add_argument("--html", type=Path, metavar="FILE", help="also write an HTML page")
    parser.add_argument("--quarter", help="cfo: YYYY-Qn (default: the latest with data)")
    parser.add_argument("--scope", choices=["ai", "all", "both"], help="cfo: default both")
    parser.add_argument("--month", help="department, customer: YYYY-MM (default: the latest)")
    parser.add_argument("--department", help="department: only this one (default: all)")
    parser.add_argument("--project", help="project: only this one (default: all)")


def run(what: str, args: argparse.Namespace, warehouse_url: Callable[[], str]) -> Outcome:
    """Make report `what` (a name in `REPORTS`, or `all`) from the warehouse `warehouse_url`
    gives, in `args.format`, and write `args.html` when given."""
    options = options_from(args)
    check(what, options, args.format)
    try:
        url = warehouse_url()
    except EmbeddedWarehouseError as error:
        raise WarehouseError(f"the embedded warehouse did not start: {error}") from error
    with open_marts(url) as marts:
        made = (
            _build_all(marts, options) if what == "all" else [REPORTS[what].build(marts, options)]
        )
    page = None
    if args.html:
        page = _write(args.html, render_html(made))
    return Outcome(_render(made, args.format, several=what == "all"), page)


def options_from(args: argparse.Namespace) -> Options:
    return Options(
        quarter=args.quarter,
        scope=args.scope,
        month=args.month,
        department=args.department,
        project=args.project,
    )


def check(what: str, options: Options, output_format: str) -> None:
    """Refuse options the report does not take, malformed periods, and a CSV of `all`."""
    if what == "all" and output_format == "csv":
        raise BadInput(f"--format csv is one report's table; choose one of {', '.join(REPORTS)}")
    if what != "all":
        takes = REPORTS[what].OPTIONS
        given = [name for name, value in vars(options).items() if value is not None]
        stray = [name for name in given if name not in takes]
        if stray:
            accepted = ", ".join(f"--{name}" for name in takes) or "no options"
            raise BadInput(
                f"--{stray[0]} does not apply to `vault report {what}` (it takes {accepted})"
            )
    if options.quarter:
        parse_quarter(options.quarter)
    if options.month:
        parse_month(options.month)


def _build_all(marts: Marts, options: Options) -> list[Report]:
    """Every report; one whose marts are not built yet says so in its place."""
    made, missing = [], []
    for name, module in REPORTS.items():
        try:
            made.append(module.build(marts, options))
        except MissingMart as error:
            missing.append(str(error))
            made.append(_unavailable(name, module, str(error)))
    if len(missing) == len(REPORTS):
        raise MissingMart(f"none of the reports' marts exist yet: {missing[0]}")
    return made


def _unavailable(name: str, module: ModuleType, reason: str) -> Report:
    return Report(
        name=name,
        title=f"{name} report",
        filters={},
        main=Table("", module.ROW_COLUMNS, []),
        no_data=reason,
    )


def _render(made: list[Report], output_format: str, *, several: bool) -> str:
    if output_format == "csv":
        return render_csv(made[0])
    if output_format == "json":
        if not several:
            return render_json(made[0])
        return json.dumps({"reports": [document(r) for r in made]}, indent=2, ensure_ascii=False)
    return f"\n\n{'=' * 80}\n\n".join(render_text(report) for report in made)


def _write(path: Path, page: str) -> Path:
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as error:
        raise BadInput(f"cannot write the HTML page to {path}: {error.strerror}") from error
    return path
