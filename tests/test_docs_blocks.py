"""README figures come from committed files: include blocks render, refresh, and match."""

from __future__ import annotations

from pathlib import Path

import pytest

from mia_bench.docs_blocks import refresh, render, stale
from mia_bench.errors import MiaBenchError

ROOT = Path(__file__).resolve().parents[1]


def test_a_block_is_its_file_without_the_title_and_headings_nested(tmp_path):
    (tmp_path / "t.md").write_text("# Title\n\n## Part\n\n| a |\n|---|\n| 1 |\n")
    doc = "intro\n<!-- include: t.md -->\nold text 0.99\n<!-- end include -->\nafter\n"
    new = refresh(doc, tmp_path)
    assert new == "intro\n<!-- include: t.md -->\n### Part\n\n| a |\n|---|\n| 1 |\n<!-- end include -->\nafter\n"
    assert refresh(new, tmp_path) == new and stale(new, tmp_path) == []
    assert stale(doc, tmp_path) == ["t.md"]
    (tmp_path / "t.md").write_text("# Title\n\n| a |\n|---|\n| 2 |\n")  # the result changed: the block is stale
    assert stale(new, tmp_path) == ["t.md"]


def test_a_missing_file_is_named():
    with pytest.raises(MiaBenchError, match="nope.md.*does not exist"):
        render("nope.md", ROOT)


@pytest.mark.parametrize("doc", ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))])
def test_the_documents_blocks_match_the_committed_results(doc):
    """Every figure a document includes is the committed file's: run `mia-bench readme DOC`
    after regenerating a result."""
    path = ROOT / doc
    assert stale(path.read_text(), path.parent) == []


def test_the_readme_includes_generated_tables():
    assert (ROOT / "README.md").read_text().count("<!-- include: ") >= 3
