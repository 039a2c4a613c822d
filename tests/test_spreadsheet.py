"""Every CSV nhandao writes for people neutralises spreadsheet formulas the same way."""

import ast
import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest

from nhandao import spreadsheet
from nhandao.access import query
from nhandao.cli import main
from nhandao.ingest import narrative

STARTERS = ["=1+1", "+1", "-25", "@SUM(A1)", "\tx", "\rx"]
SAFE = ["Phường 4", "1.085", "", "a=b"]


def cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_every_formula_starter_is_neutralised():
    for value in STARTERS:
        assert spreadsheet.neutralise(value) == "'" + value
    for value in SAFE:
        assert spreadsheet.neutralise(value) == value
    assert spreadsheet.neutralise(-25) == -25  # numbers are written as they are


def test_query_and_narrative_csv_neutralise_alike():
    expected = ["'" + v for v in STARTERS]
    from_query = cells(query.as_csv(["note"], [(v,) for v in STARTERS]))
    assert [row[0] for row in from_query[1:]] == expected
    figures = [
        narrative.Figure(
            indicator="gift_packages",
            value=Decimal(1),
            qualifier="exact",
            text=v,
            start=0,
            end=1,
            sentence=v,
            unit_mention=None,
            period_mention=None,
        )
        for v in STARTERS
    ]
    from_narrative = cells(narrative.figures_csv(figures))
    column = from_narrative[0].index("text")
    assert [row[column] for row in from_narrative[1:]] == expected


def test_nhandao_query_csv_neutralises_tab_and_carriage_return(warehouse_url, capsys):
    sql = "select E'\\tcmd' as a, E'\\rcmd' as b, '=1+1' as c, '-25' as d, -25 as e"
    assert main(["query", "--csv", sql]) == 0
    assert cells(capsys.readouterr().out) == [
        ["a", "b", "c", "d", "e"],
        ["'\tcmd", "'\rcmd", "'=1+1", "'-25", "-25"],
    ]


PACKAGE = Path(spreadsheet.__file__).parent


@pytest.mark.parametrize(
    "module",
    sorted(PACKAGE.rglob("*.py")),
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_no_module_writes_csv_around_the_one_function(module):
    """Only nhandao.spreadsheet makes csv writers for people; nhandao.sample.generate writes sample
    submissions, which must stay exactly as a district writes them (the loader reads them)."""
    if module.name in ("spreadsheet.py", "generate.py"):
        return
    tree = ast.parse(module.read_text(encoding="utf-8"))
    writers = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in ("writer", "DictWriter")
        and isinstance(node.value, ast.Name)
        and node.value.id == "csv"
    ]
    assert writers == [], f"{module.name} makes its own csv writer at lines {writers}"
