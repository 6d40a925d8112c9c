"""The CFO view of one quarter: cost by category for AI and for everything, and the P&L lines.

Reads `marts.cfo_cost_by_quarter`, whose rows are the leaves (quarter, scope, cost category,
detail), and builds the tree here: scope -> cost category -> detail, each node with its
subtotal and its share of the scope's total. AI cost is part of all cost, so the two scopes'
totals are shown side by side and never added. The P&L table sums `marts.pnl_by_month` over
the quarter's three months.

JSON, beside the common keys (`rows` are the leaves, each with its share of its scope):

    "tree": [{"scope", "label", "cost_usd", "estimated_cost_usd", "share",
              "categories": [{"cost_category", "cost_usd", "estimated_cost_usd", "share",
                              "details": [{"detail_kind", "detail", "cost_usd",
                                           "estimated_cost_usd", "share"}]}]}],
    "pnl": {"rows": [{"pnl_line", "label", "sort_order", "cost_usd"}], "total_usd"}
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from orchestration.reports.model import (
    Chart,
    Column,
    Options,
    Report,
    Section,
    Series,
    Table,
    Text,
    as_float,
    cents,
    money,
    share,
)
from orchestration.reports.periods import choose, parse_quarter, quarter_end, quarter_label
from orchestration.reports.reading import Marts

MARTS = ("cfo_cost_by_quarter", "pnl_by_month")
OPTIONS = ("quarter", "scope")
SCOPE_LABELS = {"ai": "AI cost", "all": "All cost"}
TOTAL_LABELS = {"ai": "total AI cost", "all": "total all cost"}
CATEGORY_ORDER = ("COGS", "OpEx", "R&D", "unallocated")

ROW_COLUMNS = [
    Column("quarter", "quarter", "quarter"),
    Column("scope", "scope"),
    Column("cost_category", "cost category"),
    Column("detail_kind", "detail kind"),
    Column("detail", "detail"),
    Column("cost_usd", "cost USD", "usd"),
    Column("estimated_cost_usd", "estimated USD", "usd"),
    Column("share", "share of scope", "percent"),
]
TREE_COLUMNS = [
    Column("name", "cost category / detail"),
    Column("cost_usd", "cost USD", "usd"),
    Column("share", "share", "percent"),
    Column("estimated_cost_usd", "of which estimated USD", "usd"),
]
PNL_COLUMNS = [
    Column("label", "P&L line"),
    Column("pnl_line", "code"),
    Column("cost_usd", "cost USD", "usd"),
]


@dataclass
class Node:
    """A scope, a cost category or a detail, with the sum of the leaves beneath it."""

    name: str
    kind: str
    cost: Decimal = Decimal(0)
    estimated: Decimal = Decimal(0)
    children: list[Node] = field(default_factory=list)


def build(marts: Marts, options: Options) -> Report:
    marts.require(*MARTS)
    scopes = ("ai", "all") if options.scope in (None, "both") else (options.scope,)
    wanted = parse_quarter(options.quarter) if options.quarter else None
    quarters = _quarters(marts)
    if not quarters:
        return _empty(options)
    quarter = choose(wanted, quarters, quarter_label, mart="cfo_cost_by_quarter", plural="quarters")
    leaves = _leaves(marts, quarter, scopes)
    trees = [
        scope_tree(scope, [leaf for leaf in leaves if leaf["scope"] == scope]) for scope in scopes
    ]
    pnl = _pnl(marts, quarter)
    label = quarter_label(quarter)
    sections = [_scope_section(tree, label) for tree in trees]
    if len(trees) > 1:
        sections[-1].blocks.append(
            Text(["AI cost is part of all cost: the two totals are never to be added."])
        )
    sections.append(Section(f"P&L cost lines, {label}", [pnl_table(pnl)]))
    return Report(
        name="cfo",
        title=f"CFO cost view, {label} (from marts.cfo_cost_by_quarter and marts.pnl_by_month)",
        filters={"quarter": label, "scope": options.scope or "both"},
        main=Table("", ROW_COLUMNS, _leaf_rows(quarter, leaves, trees)),
        sections=sections,
        charts=_charts(marts, trees, scopes, label),
        data={
            "tree": [tree_document(tree) for tree in trees],
            "pnl": {"rows": pnl, "total_usd": _pnl_total(pnl)},
        },
    )


def scope_tree(scope: str, leaves: list[dict[str, Any]]) -> Node:
    """The tree of one scope's leaves: categories in the house order, details largest first."""
    by_category: dict[str, dict[tuple[str, str], Node]] = defaultdict(dict)
    for leaf in leaves:
        key = (leaf["detail_kind"], leaf["detail"])
        node = by_category[leaf["cost_category"]].setdefault(key, Node(leaf["detail"], key[0]))
        node.cost += money(leaf["cost_usd"])
        node.estimated += money(leaf["estimated_cost_usd"])
    root = Node(scope, "scope")
    for category in sorted(by_category, key=_category_rank):
        details = sorted(by_category[category].values(), key=lambda node: (-node.cost, node.name))
        root.children.append(_sum_of(Node(category, "cost_category", children=details)))
    return _sum_of(root)


def tree_document(root: Node) -> dict[str, Any]:
    total = root.cost
    return {
        "scope": root.name,
        "label": SCOPE_LABELS.get(root.name, root.name),
        **_amounts(root, total),
        "categories": [
            {
                "cost_category": category.name,
                **_amounts(category, total),
                "details": [
                    {"detail_kind": detail.kind, "detail": detail.name, **_amounts(detail, total)}
                    for detail in category.children
                ],
            }
            for category in root.children
        ],
    }


def tree_table(root: Node) -> Table:
    """The tree drawn as an indented table, with the scope's total as its total line."""
    rows, depths = [], []
    for category in root.children:
        rows.append({"name": category.name, **_amounts(category, root.cost)})
        depths.append(0)
        for detail in category.children:
            rows.append({"name": _detail_name(detail), **_amounts(detail, root.cost)})
            depths.append(1)
    total = TOTAL_LABELS.get(root.name, f"total {root.name}")
    return Table(
        "",
        TREE_COLUMNS,
        rows,
        total={"name": total, **_amounts(root, root.cost)},
        depths=depths,
        empty=f"no {SCOPE_LABELS.get(root.name, root.name)} in this quarter",
    )


def pnl_table(pnl: list[dict[str, Any]]) -> Table:
    return Table(
        "",
        PNL_COLUMNS,
        pnl,
        total={"label": "total", "cost_usd": _pnl_total(pnl)},
        empty="no P&L rows for this quarter",
    )


def _quarters(marts: Marts) -> list[date]:
    rows = marts.rows("select distinct quarter from marts.cfo_cost_by_quarter order by quarter")
    return [row["quarter"] for row in rows]


def _leaves(marts: Marts, quarter: date, scopes: tuple[str, ...]) -> list[dict[str, Any]]:
    return marts.rows(
        """
        select scope, cost_category, detail_kind, detail, cost_usd, estimated_cost_usd
        from marts.cfo_cost_by_quarter
        where quarter = %s and scope = any(%s)
        order by scope, cost_category, detail_kind, detail
        """,
        (quarter, list(scopes)),
    )


def _pnl(marts: Marts, quarter: date) -> list[dict[str, Any]]:
    rows = marts.rows(
        """
        select pnl_line, label, sort_order, sum(cost_usd) as cost_usd
        from marts.pnl_by_month
        where month >= %s and month < %s
        group by pnl_line, label, sort_order
        order by sort_order, pnl_line
        """,
        (quarter, quarter_end(quarter)),
    )
    return [{**row, "cost_usd": cents(money(row["cost_usd"]))} for row in rows]


def _pnl_total(pnl: list[dict[str, Any]]) -> Decimal:
    return cents(sum((row["cost_usd"] for row in pnl), Decimal(0)))


def _history(marts: Marts, scope: str) -> list[dict[str, Any]]:
    return marts.rows(
        """
        select quarter, cost_category, sum(cost_usd) as cost_usd
        from marts.cfo_cost_by_quarter
        where scope = %s
        group by quarter, cost_category
        order by quarter, cost_category
        """,
        (scope,),
    )


def _leaf_rows(quarter: date, leaves: list[dict[str, Any]], trees: list[Node]) -> list[dict]:
    """The leaves in the tree's order (scope, category, largest first), each with its share of
    its scope's total."""
    totals = {tree.name: tree.cost for tree in trees}
    ordered = sorted(
        leaves,
        key=lambda leaf: (
            [tree.name for tree in trees].index(leaf["scope"]),
            _category_rank(leaf["cost_category"]),
            -money(leaf["cost_usd"]),
            leaf["detail_kind"],
            leaf["detail"],
        ),
    )
    return [
        {
            "quarter": quarter,
            **leaf,
            "share": share(money(leaf["cost_usd"]), totals[leaf["scope"]]),
        }
        for leaf in ordered
    ]


def _scope_section(tree: Node, quarter: str) -> Section:
    return Section(f"{SCOPE_LABELS.get(tree.name, tree.name)}, {quarter}", [tree_table(tree)])


def _charts(marts: Marts, trees: list[Node], scopes: tuple[str, ...], quarter: str) -> list[Chart]:
    """Cost over time by category, and the quarter's split by category, for all cost when it
    is shown, else for AI."""
    scope = "all" if "all" in scopes else scopes[0]
    tree = next(tree for tree in trees if tree.name == scope)
    label = SCOPE_LABELS[scope]
    history = _history(marts, scope)
    periods = sorted({row["quarter"] for row in history})
    categories = sorted({row["cost_category"] for row in history}, key=_category_rank)
    amounts = {(row["quarter"], row["cost_category"]): row["cost_usd"] for row in history}
    over_time = Chart(
        key="cfo-cost-over-time",
        title=f"Cost over time: {label.lower()} by category",
        kind="line",
        categories=[quarter_label(period) for period in periods],
        series=[
            Series(category, [as_float(amounts.get((period, category), 0)) for period in periods])
            for category in categories
        ],
        x_label="quarter",
        y_label="cost (USD)",
    )
    breakdown = Chart(
        key="cfo-category-breakdown",
        title=f"Category breakdown: {label.lower()}, {quarter}",
        kind="donut",
        categories=[category.name for category in tree.children],
        series=[Series(label, [as_float(category.cost) for category in tree.children])],
        caption=f"total {tree.cost:,.2f} USD",
    )
    return [over_time, breakdown]


def _empty(options: Options) -> Report:
    return Report(
        name="cfo",
        title="CFO cost view (from marts.cfo_cost_by_quarter and marts.pnl_by_month)",
        filters={"quarter": options.quarter, "scope": options.scope or "both"},
        main=Table("", ROW_COLUMNS, []),
        data={"tree": [], "pnl": {"rows": [], "total_usd": 0}},
        no_data="marts.cfo_cost_by_quarter has no rows yet",
    )


def _sum_of(node: Node) -> Node:
    node.cost = sum((child.cost for child in node.children), Decimal(0))
    node.estimated = sum((child.estimated for child in node.children), Decimal(0))
    return node


def _amounts(node: Node, total: Decimal) -> dict[str, Any]:
    return {
        "cost_usd": cents(node.cost),
        "estimated_cost_usd": cents(node.estimated),
        "share": share(node.cost, total),
    }


def _detail_name(detail: Node) -> str:
    return detail.name if detail.kind == "cost_kind" else f"{detail.name} ({detail.kind})"


def _category_rank(category: str) -> tuple[int, str]:
    if category in CATEGORY_ORDER:
        return (CATEGORY_ORDER.index(category), category)
    return (len(CATEGORY_ORDER), category)
