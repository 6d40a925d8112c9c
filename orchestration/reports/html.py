"""One self-contained HTML page for one report or several: tables and inline SVG charts.

The stylesheet and the chart script (`page.css`, `charts.js` beside this module) are copied
into the page, and the charts' figures travel in it as JSON, so the file opens offline from a
laptop, a mail attachment or a shared drive. The tables are written here and need no script;
the script draws the charts when the page opens.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from html import escape
from importlib.resources import files

from orchestration.reports.export import plain
from orchestration.reports.formatting import cell
from orchestration.reports.model import Chart, Report, Table, Text

PAGE_TITLE = "Observability Vault reports"
HEADING = "Observability Vault"


def render_html(reports: list[Report], *, generated_at: datetime | None = None) -> str:
    made = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    title = reports[0].title if len(reports) == 1 else PAGE_TITLE
    charts = [chart for report in reports for chart in report.charts]
    nav = _nav(reports) if len(reports) > 1 else ""
    sections = "\n".join(_report(report) for report in reports)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>
{_asset("page.css")}
</style>
</head>
<body data-charts="pending">
<header class="page">
<h1>{HEADING}</h1>
<p>Read from the warehouse's marts on {made}. Amounts in US dollars.</p>
{nav}
</header>
<main>
<p id="chart-error" hidden></p>
{sections}
</main>
<footer class="page">Observability Vault &middot; hover over a bar, point or slice for its
figure; the tables hold every figure the charts draw.</footer>
<script type="application/json" id="chart-data">{chart_data(charts)}</script>
<script>
{_asset("charts.js")}
</script>
</body>
</html>
"""


def chart_data(charts: list[Chart]) -> str:
    """The charts as JSON that is safe inside a <script> element."""
    specs = [
        {
            "key": chart.key,
            "title": chart.title,
            "kind": chart.kind,
            "categories": chart.categories,
            "series": [
                {"name": s.name, "values": s.values, "low": s.low, "high": s.high}
                for s in chart.series
            ],
            "unit": chart.unit,
            "x_label": chart.x_label,
            "y_label": chart.y_label,
        }
        for chart in charts
    ]
    text = json.dumps(plain(specs), ensure_ascii=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _nav(reports: list[Report]) -> str:
    links = "".join(
        f'<a href="#report-{escape(report.name)}">{escape(report.name)}</a>' for report in reports
    )
    return f'<nav class="reports">{links}</nav>'


def _report(report: Report) -> str:
    parts = [f'<section class="report" id="report-{escape(report.name)}">']
    parts.append(f"<h2>{escape(report.title)}</h2>")
    if report.no_data:
        parts.append(f'<p class="no-data">no data: {escape(report.no_data)}</p>')
    else:
        if report.charts:
            parts.append('<div class="charts">')
            parts += [_figure(chart) for chart in report.charts]
            parts.append("</div>")
        for section in report.sections:
            parts.append(f'<section class="part"><h3>{escape(section.heading)}</h3>')
            for block in section.blocks:
                parts.append(_text(block) if isinstance(block, Text) else _table(block))
            parts.append("</section>")
    parts.append("</section>")
    return "\n".join(parts)


def _figure(chart: Chart) -> str:
    caption = f'<p class="caption">{escape(chart.caption)}</p>' if chart.caption else ""
    return (
        f'<figure class="chart" data-chart="{escape(chart.key)}" data-kind="{chart.kind}">'
        f"<figcaption>{escape(chart.title)}</figcaption>"
        '<div class="plot"><noscript>The charts need JavaScript; the tables below hold the '
        f"same figures.</noscript></div>{caption}</figure>"
    )


def _text(block: Text) -> str:
    return "\n".join(f"<p>{escape(line)}</p>" for line in block.lines)


def _table(table: Table) -> str:
    parts = [f"<h4>{escape(table.title)}</h4>"] if table.title else []
    if not table.rows:
        parts.append(f'<p class="note">{escape(table.empty)}</p>')
        return "\n".join(parts)
    kind = "figures tree" if table.depths is not None else "figures"
    parts.append(f'<div class="table-wrap"><table class="{kind}"><thead><tr>')
    parts += [
        f'<th class="{"num" if column.numeric else "text"}">{escape(column.label)}</th>'
        for column in table.columns
    ]
    parts.append("</tr></thead><tbody>")
    depths = table.depths if table.depths is not None else [0] * len(table.rows)
    for row, depth in zip(table.rows, depths, strict=True):
        parts.append(f'<tr class="depth-{depth}">{_cells(table, row)}</tr>')
    parts.append("</tbody>")
    if table.total:
        parts.append(f"<tfoot><tr>{_cells(table, table.total, total=True)}</tr></tfoot>")
    parts.append("</table></div>")
    parts += [f'<p class="note">{escape(note)}</p>' for note in table.notes]
    return "\n".join(parts)


def _cells(table: Table, row: dict, *, total: bool = False) -> str:
    """The row's cells; a total line leaves the columns it does not add up blank."""
    out = []
    for column in table.columns:
        value = row.get(column.key)
        shown = "" if total and value is None else escape(cell(value, column, dollars=True))
        if not column.numeric:
            out.append(f"<td>{shown}</td>")
            continue
        negative = value is not None and not isinstance(value, str) and Decimal(str(value)) < 0
        out.append(f'<td class="num{" negative" if negative else ""}">{shown}</td>')
    return "".join(out)


def _asset(name: str) -> str:
    return files("orchestration.reports").joinpath(name).read_text(encoding="utf-8")
