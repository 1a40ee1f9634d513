"""Every classification rule names where its wording comes from.

The convention lives in the docstring of :mod:`bounceledger.ingest.bounces.reasons`: each
row of a rule table carries a ``# src: ...`` comment at the end of its first
line or in the comment lines directly above it. A row without one is a rule
nobody can check against its origin, so the test fails on it.
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import pytest

from bounceledger.ingest.bounces import reasons

SOURCE = Path(reasons.__file__)

#: The rule tables (name in reasons.py, the compiled table built from it).
TABLES: dict[str, object] = {
    "_TEXT_RULES": reasons.TEXT_RULES,
    "_STRONG_TEXT_RULES": reasons.STRONG_TEXT_RULES,
    "_HOST_RULES": reasons.HOST_RULES,
    "STATUS_REASONS": reasons.STATUS_REASONS,
    "REPLY_REASONS": reasons.REPLY_REASONS,
}

MARK = "# src:"


def _comments(text: str) -> dict[int, str]:
    """Comment text by line number (only real comments, not '#' inside strings)."""
    found: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.COMMENT:
            found[token.start[0]] = token.string
    return found


def _rows(text: str) -> dict[str, list[int]]:
    """First line of every row of every rule table, by table name."""
    rows: dict[str, list[int]] = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name, value = node.target.id, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, value = node.targets[0].id, node.value
        else:
            continue
        if name not in TABLES:
            continue
        if isinstance(value, ast.Dict):
            rows[name] = [key.lineno for key in value.keys if key is not None]
        elif isinstance(value, ast.Tuple):
            rows[name] = [element.lineno for element in value.elts]
    return rows


def _has_source(line: int, lines: list[str], comments: dict[int, str]) -> bool:
    def is_source(comment: str | None) -> bool:
        return bool(comment and comment.startswith(MARK) and len(comment[len(MARK):].strip()) >= 8)

    if is_source(comments.get(line)):
        return True
    above = line - 1
    while above >= 1 and lines[above - 1].strip().startswith("#"):
        if is_source(comments.get(above)):
            return True
        above -= 1
    return False


def unsourced_rows(text: str) -> list[str]:
    """``"table:line"`` for every rule row of ``text`` without a source comment."""
    lines = text.splitlines()
    comments = _comments(text)
    return [
        f"{name}:{line}: {lines[line - 1].strip()[:80]}"
        for name, starts in _rows(text).items()
        for line in starts
        if not _has_source(line, lines, comments)
    ]


def test_every_rule_row_names_its_source():
    assert unsourced_rows(SOURCE.read_text(encoding="utf-8")) == []


def test_the_check_sees_every_row_of_every_table():
    rows = _rows(SOURCE.read_text(encoding="utf-8"))
    assert set(rows) == set(TABLES)
    for name, table in TABLES.items():
        assert len(rows[name]) == len(table), name  # type: ignore[arg-type]


@pytest.mark.parametrize("table", sorted(TABLES))
def test_removing_one_source_comment_is_caught(table):
    """The check can fail: strip the source of the first row of each table."""
    text = SOURCE.read_text(encoding="utf-8")
    lines = text.splitlines()
    comments = _comments(text)
    first = _rows(text)[table][0]
    # the source comment of that row: on its line, or the nearest one above it
    line = first if (comments.get(first) or "").startswith(MARK) else next(
        n for n in range(first - 1, 0, -1) if (comments.get(n) or "").startswith(MARK)
    )
    lines[line - 1] = lines[line - 1].replace(MARK, "# note:", 1)
    missing = unsourced_rows("\n".join(lines) + "\n")
    assert any(entry.startswith(f"{table}:{first}:") for entry in missing)
