"""A report as terminal text: headed sections of aligned tables, figures right-aligned."""

from orchestration.reports.formatting import cell
from orchestration.reports.model import Report, Table, Text

GAP = "  "
INDENT = "  "


def render_text(report: Report) -> str:
    lines = [report.title]
    if report.no_data:
        lines += ["", f"no data: {report.no_data}"]
        return "\n".join(lines)
    for section in report.sections:
        lines += ["", section.heading, "-" * len(section.heading)]
        previous = None
        for block in section.blocks:
            # A table stands apart from what is above and below it; lines of text do not.
            if previous is not None and Table in (type(block), type(previous)):
                lines.append("")
            lines += block.lines if isinstance(block, Text) else table_lines(block)
            previous = block
    return "\n".join(lines)


def table_lines(table: Table) -> list[str]:
    """The table's title, headings, rows, total line and notes, each column as wide as its
    widest value."""
    lines = [table.title] if table.title else []
    if not table.rows:
        return [*lines, f"{INDENT}({table.empty})"]
    depths = _depths(table)
    body = [
        _cells(table, row, depth, branch=_branch(depths, index))
        for index, (row, depth) in enumerate(zip(table.rows, depths, strict=True))
    ]
    total = [_cells(table, table.total, 0, missing="")] if table.total else []
    header = [column.label for column in table.columns]
    widths = [max(len(text) for text in texts) for texts in zip(header, *body, *total, strict=True)]
    lines.append(_line(table, header, widths))
    lines += [_line(table, texts, widths) for texts in body]
    if total:
        lines.append(GAP.join("-" * width for width in widths))
        lines.append(_line(table, total[0], widths))
    lines += table.notes
    return lines


def _depths(table: Table) -> list[int]:
    return table.depths if table.depths is not None else [0] * len(table.rows)


def _branch(depths: list[int], index: int) -> str:
    """How a tree row hangs from its parent: '├─ ' with siblings below it, '└─ ' as the last."""
    depth = depths[index]
    if depth == 0:
        return ""
    for later in depths[index + 1 :]:
        if later <= depth:
            return "├─ " if later == depth else "└─ "
    return "└─ "


def _cells(
    table: Table, row: dict, depth: int, missing: str | None = None, branch: str = ""
) -> list[str]:
    """The row's values as text; `missing` overrides what an empty value reads as (a total
    line leaves the columns it does not add up blank); `branch` draws a tree row's link."""
    texts = []
    for column in table.columns:
        value = row.get(column.key)
        texts.append(missing if value is None and missing is not None else cell(value, column))
    texts[0] = INDENT * max(depth - 1, 0) + branch + texts[0]
    return texts


def _line(table: Table, texts: list[str], widths: list[int]) -> str:
    parts = [
        text.rjust(width) if column.numeric else text.ljust(width)
        for text, width, column in zip(texts, widths, table.columns, strict=True)
    ]
    return GAP.join(parts).rstrip()
