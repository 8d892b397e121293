"""The figures page's data and plot: each model version's accuracy against reviews, per UTC day.

Accuracy = reviewed fields the reviewers confirmed / reviewed fields (each field counted once, with its
latest verdict; see ``ReviewStore.accuracy_by_model``). The plot is drawn server-side with matplotlib's
object API (no pyplot state), as SVG with real text.
"""

from __future__ import annotations

import io
import threading
from datetime import date
from typing import Any

_PLOT_LOCK = threading.Lock()  # matplotlib is not documented as thread-safe; requests run in a pool


def accuracy_series(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of ``accuracy_by_model`` grouped into one series per model version (name + sha256)."""
    series: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["model_name"], row["model_sha256"])
        if key not in series:
            label = f"{key[0]} @ {key[1][:12]}"
            series[key] = {"model_name": key[0], "model_sha256": key[1], "label": label, "points": []}
        series[key]["points"].append({k: row[k] for k in ("day", "confirmed", "reviewed", "accuracy")})
    return list(series.values())


def accuracy_svg(series: list[dict[str, Any]]) -> str:
    """The plot as an ``<svg>`` element (no XML prolog), ready to inline in HTML."""
    import matplotlib
    from matplotlib import dates as mdates
    from matplotlib.figure import Figure

    with _PLOT_LOCK, matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "idsight"}):
        fig = Figure(figsize=(8, 4.2), layout="constrained")
        ax = fig.subplots()
        for s in series:
            days = [date.fromisoformat(p["day"]) for p in s["points"]]
            ax.plot(days, [p["accuracy"] for p in s["points"]], marker="o", label=s["label"])  # type: ignore[arg-type]
        ax.set_ylim(0.0, 1.02)
        ax.set_ylabel("fields confirmed / fields reviewed")
        ax.set_xlabel("day of review (UTC)")
        ax.set_title("Accuracy of each model version against reviews")
        ax.grid(alpha=0.3)
        if series:
            days = sorted({date.fromisoformat(p["day"]) for s in series for p in s["points"]})
            span = (days[-1] - days[0]).days
            ax.set_xlim(mdates.date2num(days[0]) - 0.5, mdates.date2num(days[-1]) + 0.5)
            ax.xaxis.set_major_locator(mdates.DayLocator(interval=max(1, -(-span // 8))))
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
            ax.legend(loc="lower left", fontsize="small")
        else:
            ax.text(0.5, 0.5, "no reviews yet", ha="center", va="center", transform=ax.transAxes)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    return svg[svg.index("<svg") :]
