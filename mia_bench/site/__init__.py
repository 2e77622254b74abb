"""A static leaderboard site: ``mia-bench site --out DIR RESULTS_DIR ...``.

Built from the result records of each results folder (never from rendered markdown):
an index of tracks with each track's best attack and its controls, one page per track
(sortable table, log-log ROC curves and score histograms as SVG, a compare view), one page
per entry (its provenance card and a CSV of its per-sample scores), and the
privacy-utility page of each defense sweep. It opens from ``file://``: every link is
relative and all CSS and JS are inline, so it needs no server and loads nothing from
the network.
"""

from __future__ import annotations

from .builder import SiteSummary, build_site
from .sources import SiteError

__all__ = ["SiteError", "SiteSummary", "build_site"]
