"""The benchmark chart: every "higher is better" row of a run as bars of ratios to gevent.

`draw` takes what run.py gathers (``--save`` writes the same thing as JSON)::

    {"machine": {"cpu": ..., "cpus": ..., "python": ..., "date": ...},
     "command": "python benchmarks/run.py ...",
     "versions": "green 0.1.0, eventlet 0.41.3, ...",
     "tables": [{"script": ..., "title": ..., "libraries": [...], "plot": true,
                 "rows": [{"metric": ..., "unit": ..., "higher_is_better": true,
                           "values": {"green": 1.0, ...}}, ...]}, ...]}

One group of horizontal bars per row, one bar per library: the library's figure divided by
gevent's in the same run, so gevent is 1 and longer is faster. Rows where lower is better
(latency, memory, CPU use) and rows without a gevent figure are left out; tables marked
``"plot": false`` (the CPU-time repeat of the core table) too. The x axis turns logarithmic when
the ratios span more than a factor of 20. matplotlib is imported only here (the bench tox env
has it; nothing else needs it).
"""

from __future__ import annotations

import os
import textwrap
from typing import Any

# Drawing order within a group (top to bottom) and colours; other libraries follow in grey.
ORDER = ("green", "filament", "uvloop", "gevent", "eventlet")
COLOURS = {
    "green": "#2e8b3a",
    "filament": "#d9822b",
    "uvloop": "#7b4fa8",
    "gevent": "#3a6fb0",
    "eventlet": "#9a9a9a",
}


def plottable_rows(results: dict[str, Any], cpu: bool = False) -> list[tuple[str, dict[str, float]]]:
    """(label, library -> ratio to gevent) for every row the chart shows, in run order; with
    `cpu`, rates per CPU second stand in for the wall-clock rows they repeat."""
    tables = results["tables"]
    cpu_rows = {
        (table["script"], row["metric"]): row
        for table in tables
        if cpu and table.get("clock") == "cpu"
        for row in table["rows"]
    }
    rows = []
    for table in tables:
        if not table.get("plot", True):
            continue
        for row in table["rows"]:
            row = cpu_rows.get((table["script"], row["metric"]), row)
            values = row["values"]
            gevent = values.get("gevent")
            if not row["higher_is_better"] or not gevent or gevent <= 0:
                continue
            ratios = {
                library: value / gevent
                for library, value in values.items()
                if value is not None and value > 0
            }
            if len(ratios) < 2:
                continue
            rows.append((f"{row['metric'].strip()} ({row['unit']})", ratios))
    return rows


def ratio_text(ratio: float) -> str:
    """1.46x, 0.38x, 0.0042x: two decimals, or two significant digits below 0.1."""
    return f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.2g}x"


def caption(results: dict[str, Any]) -> str:
    """The lines under the chart: machine, versions, date and command."""
    machine = results.get("machine", {})
    lines = [
        f"{machine.get('cpu', '?')}, {machine.get('cpus', '?')} CPUs, "
        f"{machine.get('implementation', 'Python')} {machine.get('python', '?')}, "
        f"{machine.get('system', '')}; {machine.get('date', '')}",
    ]
    if results.get("versions"):
        lines.append(results["versions"])
    if results.get("command"):
        lines.append(f"$ {results['command']}")
    return "\n".join(textwrap.fill(line, 130) for line in lines)


def draw(results: dict[str, Any], path: str, cpu: bool = False) -> None:
    """Write the chart of `results` to `path` (PNG, or whatever the extension says); `cpu`:
    draw rates per CPU second of the benchmark process where a script measured them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    rows = plottable_rows(results, cpu)
    if not rows:
        raise ValueError("no row of these results has a gevent figure to compare with")
    present = [library for library in ORDER if any(library in ratios for _, ratios in rows)]
    present += sorted({library for _, ratios in rows for library in ratios} - set(present))
    every = [ratio for _, ratios in rows for ratio in ratios.values()]
    logarithmic = max(every) / min(every) > 20

    bar = 0.8 / len(present)
    height = 1.2 + 0.22 * len(present) * len(rows) + 0.25 * len(rows)
    figure, axes = pyplot.subplots(figsize=(11, height))
    for position, library in enumerate(present):
        ys, widths = [], []
        for index, (_, ratios) in enumerate(rows):
            if library in ratios:
                ys.append(index + (position - (len(present) - 1) / 2) * bar)
                widths.append(ratios[library])
        left = 0 if not logarithmic else min(every) / 2
        axes.barh(
            ys,
            [width - left for width in widths],
            left=left,
            height=bar * 0.92,
            color=COLOURS.get(library, "#555555"),
            label=library,
        )
        for y, width in zip(ys, widths, strict=True):
            axes.text(width, y, f" {ratio_text(width)}", va="center", ha="left", fontsize=7)
    axes.axvline(1.0, color="black", linewidth=0.8)
    axes.set_yticks(range(len(rows)))
    axes.set_yticklabels([label for label, _ in rows], fontsize=8)
    axes.invert_yaxis()
    if logarithmic:
        from matplotlib.ticker import FuncFormatter

        axes.set_xscale("log")
        axes.set_xlim(min(every) / 2, max(every) * 2.5)
        axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}x"))
    else:
        axes.set_xlim(0, max(every) * 1.18)
    axes.set_xlabel(
        "figure / gevent's figure in the same run (gevent = 1; higher is better)"
        + (
            "\n(spawn, switch, hand-off, tpool and queue rows: rates per CPU second of the benchmark process)"
            if cpu
            else ""
        )
    )
    axes.set_title(
        "green, eventlet, gevent"
        + "".join(f", {name}" for name in present if name not in ("green", "eventlet", "gevent"))
        + ": ratios to gevent",
        fontsize=11,
    )
    axes.legend(loc="lower right", fontsize=8)
    axes.grid(axis="x", alpha=0.3, which="both")
    figure.text(0.01, 0.005, caption(results), fontsize=7, va="bottom", ha="left", family="monospace")
    lines = caption(results).count("\n") + 1
    figure.tight_layout(rect=(0, (0.14 * lines + 0.1) / height, 1, 1))
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
