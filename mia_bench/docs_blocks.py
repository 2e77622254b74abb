"""Generated blocks in Markdown documents: ``<!-- include: PATH -->`` ... ``<!-- end include -->``.

Every figure the README quotes from a result lives in a committed file that a command
regenerates (a leaderboard's ``summary.md``, a benchmark's table); the README includes those
files between markers and ``mia-bench readme`` refreshes every block, so prose never holds a
hand-typed copy. ``tests/test_docs_blocks.py`` fails when a block differs from its file.
"""

from __future__ import annotations

import re
from pathlib import Path

from .errors import MiaBenchError

BLOCK = re.compile(r"<!-- include: (?P<path>\S+) -->\n.*?<!-- end include -->", re.S)


def render(path: str, root: Path) -> str:
    """The block for ``path`` (relative to ``root``): the file without its title, headings one
    level down so they nest under the document's section."""
    file = root / path
    if not file.is_file():
        raise MiaBenchError(f"an include block names {path!r}, which does not exist under {root}; regenerate it with "
                            "its command (leaderboards/regenerate.sh lists them) or fix the path")
    lines = file.read_text().strip().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    body = "\n".join(("#" + line) if line.startswith("#") else line for line in lines).strip()
    return f"<!-- include: {path} -->\n{body}\n<!-- end include -->"


def refresh(document: str, root: Path) -> str:
    """``document`` with every include block re-rendered from its file."""
    return BLOCK.sub(lambda m: render(m["path"], root), document)


def stale(document: str, root: Path) -> list[str]:
    """Paths of the blocks whose text differs from their file."""
    return [m["path"] for m in BLOCK.finditer(document) if m[0] != render(m["path"], root)]
