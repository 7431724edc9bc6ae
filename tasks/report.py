"""What happened, for a person: a run's summary as markdown (the Prefect artifact) and the report page.

The page is one self-contained HTML file: inline CSS, charts drawn here as inline SVG, no script, and a
Content-Security-Policy that forbids the browser to fetch anything at all, so it works offline and a value
from a crawled page (a title) can never make it call another host.

The charts are written by hand rather than with a library. Each candidate fails one of the page's needs:
Altair/Vega-Lite and Plotly draw in the browser with a JavaScript bundle (from a CDN, or ~1-3 MB inlined);
pygal's SVG loads its tooltip script from a CDN by default; matplotlib (~40 MB installed, ~0.5 s to import)
draws text as paths and knows nothing of the page's fonts or its accessibility. Line charts of a few series
of daily counts are ~100 lines of SVG arithmetic, with native `<title>` tooltips and no dependency.
"""

from __future__ import annotations

import html
import math
import os
import tempfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from newsdag.tasks.models import COUNT_NAMES
from newsdag.warehouse.db import named_queries

# Okabe & Ito's palette: told apart with every common colour-vision deficiency.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
OTHER_COLOUR = "#999999"
# Rules drawn as lines of their own in the rejects chart; the rest are summed as "other".
CHART_RULES = 6
SLOWEST_HOSTS = 5
LARGEST_STORIES = 10
RECENT_RUNS = 15
# A markdown or HTML cell longer than this is cut: an example input is there to be recognised, not read.
CELL_CHARS = 120
# The page forbids every fetch: no script, image, font, frame or connection to any host, even its own.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


@dataclass(frozen=True)
class RunDetails:
    """What a run's artifact lists beside the summary's counts, read from the warehouse."""

    rejects: tuple[tuple[str, str, int, str], ...]  # stage, rule, rejects, one example input and detail
    flags: tuple[tuple[str, int, str], ...]  # rule, articles, one example
    slowest_hosts: tuple[tuple[str, int, int, float, float, float], ...]  # host, requests, failed, s, mean, max


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows, for the days from `since` to `until`."""

    since: date
    until: date
    generated_at: datetime
    database: str
    articles_by_day: tuple[tuple[str, date, int], ...]  # source, day, articles
    rejects_by_day: tuple[tuple[str, date, int], ...]  # rule, day, rejects
    health: tuple[Mapping[str, Any], ...]  # per source over the period
    health_by_day: tuple[Mapping[str, Any], ...]  # per source and day: articles, reject_rate, empty_text_rate, ...
    open_alerts: tuple[Mapping[str, Any], ...]
    stories: tuple[Mapping[str, Any], ...]
    runs: tuple[Mapping[str, Any], ...]


def rows_as_dicts(cursor: duckdb.DuckDBPyConnection) -> tuple[dict[str, Any], ...]:
    columns = [column[0] for column in cursor.description or ()]
    return tuple(dict(zip(columns, row, strict=True)) for row in cursor.fetchall())


# --- a run: the Prefect artifact ---------------------------------------------------------------------------


def read_run_details(connection: duckdb.DuckDBPyConnection, run_id: str) -> RunDetails:
    summary, health = named_queries("summary.sql"), named_queries("health.sql")
    parameters = {"run_id": run_id}
    return RunDetails(
        rejects=tuple(connection.execute(summary["run_rejects"], parameters).fetchall()),
        flags=tuple(connection.execute(summary["run_flags"], parameters).fetchall()),
        slowest_hosts=tuple(
            connection.execute(health["slowest_hosts"], {**parameters, "limit": SLOWEST_HOSTS}).fetchall()
        ),
    )


def markdown_cell(value: Any) -> str:
    """One table cell: a single line, pipes escaped, cut at CELL_CHARS."""
    text = " ".join(str("" if value is None else value).split())
    if len(text) > CELL_CHARS:
        text = text[: CELL_CHARS - 1] + "…"
    return text.replace("|", "\\|")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(markdown_cell(value) for value in row) + " |" for row in rows]
    return lines


def run_markdown(summary: Mapping[str, Any], source: str, details: RunDetails, report_link: str) -> str:
    """The run's artifact: source and counts, drift alerts, rejects by stage and rule with an example each,
    flags by rule, the slowest hosts, the time of each step, and where the report page is."""
    lines = [f"## newsdag run `{summary['run_id']}` of `{source}`: {summary['status']}", ""]
    if summary.get("error"):
        lines += [f"**Failed:** {markdown_cell(summary['error'])}", ""]
    names = [name.replace("_", " ") for name in COUNT_NAMES]
    lines += markdown_table(names, [[summary.get(name, 0) for name in COUNT_NAMES]])
    alerts = summary.get("alerts") or []
    lines += ["", "### Drift"]
    if alerts:
        lines += [f"- **{alert['metric']}**: {markdown_cell(alert['message'])}" for alert in alerts]
    else:
        lines += ["No figure crossed its threshold against the source's baseline (or it has too little history)."]
    lines += ["", "### Rejects by stage and rule"]
    lines += markdown_table(["stage", "rule", "rejects", "example"], details.rejects) if details.rejects else ["None."]
    lines += ["", "### Flags by rule (loaded with a doubtful value)"]
    lines += markdown_table(["rule", "articles", "example"], details.flags) if details.flags else ["None."]
    lines += ["", "### Slowest hosts"]
    if details.slowest_hosts:
        lines += markdown_table(["host", "requests", "failed", "seconds", "mean s", "max s"], details.slowest_hosts)
    else:
        lines += ["No web request in this run."]
    steps = summary.get("seconds_by_step") or {}
    lines += ["", "### Time by step (seconds; steps of consecutive batches overlap)"]
    lines += markdown_table(list(steps), [[f"{seconds:.2f}" for seconds in steps.values()]]) if steps else ["None."]
    lines += ["", f"Report page (all sources, health, alerts, stories): {report_link}"]
    return "\n".join(lines) + "\n"


# --- the report page ---------------------------------------------------------------------------------------


def read_report(
    connection: duckdb.DuckDBPyConnection, since: date, until: date, generated_at: datetime, database: str
) -> ReportData:
    queries = named_queries("report.sql")
    period = {"since": since}
    return ReportData(
        since=since,
        until=until,
        generated_at=generated_at,
        database=database,
        articles_by_day=tuple(connection.execute(queries["articles_by_day"], period).fetchall()),
        rejects_by_day=tuple(connection.execute(queries["rejects_by_day"], period).fetchall()),
        health=rows_as_dicts(connection.execute(queries["health_by_source"], period)),
        health_by_day=rows_as_dicts(connection.execute(queries["health_by_day"], period)),
        open_alerts=rows_as_dicts(connection.execute(queries["open_alerts"])),
        stories=rows_as_dicts(connection.execute(queries["largest_stories"], {**period, "limit": LARGEST_STORIES})),
        runs=rows_as_dicts(connection.execute(queries["recent_runs"], {**period, "limit": RECENT_RUNS})),
    )


def days_between(since: date, until: date) -> list[date]:
    return [since + timedelta(days=offset) for offset in range((until - since).days + 1)]


def daily_series(
    rows: Sequence[tuple[str, date, int]], days: Sequence[date], keep: int
) -> dict[str, list[float | None]]:
    """Per name (source, rule), its count on each day (0 when none); past `keep` names the smallest are summed
    as "other"."""
    totals: dict[str, int] = defaultdict(int)
    by_day: dict[str, dict[date, int]] = defaultdict(dict)
    for name, day, count in rows:
        totals[name] += count
        by_day[name][day] = by_day[name].get(day, 0) + count
    names = sorted(totals, key=lambda name: (-totals[name], name))
    series: dict[str, list[float | None]] = {name: [by_day[name].get(day, 0) for day in days] for name in names[:keep]}
    if len(names) > keep:
        series["other"] = [sum(by_day[name].get(day, 0) for name in names[keep:]) for day in days]
    return series


def nice_ceiling(value: float) -> float:
    """The axis maximum: 1, 2, 2.5 or 5 times a power of ten, at or above `value`."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= value)


def format_number(value: float, percent: bool) -> str:
    return f"{value:.0%}" if percent else f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def line_chart(
    chart_id: str, title: str, days: Sequence[date], series: Mapping[str, Sequence[float | None]], *, percent: bool
) -> str:
    """An SVG line chart of daily values, one coloured line per series, a point per day with a tooltip."""
    width, height, left, right, top, bottom = 760, 260, 56, 16, 16, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [value for line in series.values() for value in line if value is not None]
    # Four grid steps of a round size: 0, 2, 4, 6, 8 rather than 0, 1.25, 2.5, ...
    y_max = 1.0 if percent else 4 * nice_ceiling(max(values, default=0) / 4)

    def x(index: int) -> float:
        return left + (plot_w * index / (len(days) - 1) if len(days) > 1 else plot_w / 2)

    def y(value: float) -> float:
        return top + plot_h * (1 - value / y_max)

    parts = [
        f'<svg id="{chart_id}" class="chart" role="img" aria-labelledby="{chart_id}-title" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{html.escape(title)}</title>',
    ]
    for step in range(5):  # grid lines and y labels
        value = y_max * step / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(value):.1f}" y2="{y(value):.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y(value) + 4:.1f}" text-anchor="end">{format_number(value, percent)}</text>'
        )
    for index in sorted({0, len(days) // 2, len(days) - 1}):  # x labels: first, middle and last day
        anchor = "start" if index == 0 and len(days) > 1 else "end" if index == len(days) - 1 else "middle"
        parts.append(
            f'<text x="{x(index):.1f}" y="{height - 12}" text-anchor="{anchor}">{days[index].isoformat()}</text>'
        )
    if not values:
        parts.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle">no data</text>')
    for number, (name, line) in enumerate(series.items()):
        colour = OTHER_COLOUR if name == "other" else PALETTE[number % len(PALETTE)]
        points = [(x(index), y(value), day, value) for index, (day, value) in enumerate(zip(days, line, strict=True))]
        drawn = " ".join(f"{px:.1f},{py:.1f}" for px, py, _day, value in points if value is not None)
        parts.append(
            f'<g class="series" data-series="{html.escape(name)}"><polyline points="{drawn}" fill="none" '
            f'stroke="{colour}" stroke-width="2"/>'
        )
        for px, py, day, value in points:
            if value:
                label = f"{name}, {day.isoformat()}: {format_number(value, percent)}"
                parts.append(
                    f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"><title>{html.escape(label)}</title>'
                    "</circle>"
                )
        parts.append("</g>")
    parts.append("</svg>")
    legend = "".join(
        f'<span class="key"><i style="background:{OTHER_COLOUR if name == "other" else PALETTE[n % len(PALETTE)]}">'
        f"</i>{html.escape(name)}</span>"
        for n, name in enumerate(series)
    )
    return "".join(parts) + f'<div class="legend">{legend}</div>'


def sparkline(values: Sequence[float | None], *, percent: bool, label: str) -> str:
    """A small trend line of daily values (gaps where a day had no evidence), with its last value."""
    width, height = 80, 22
    known = [(index, value) for index, value in enumerate(values) if value is not None]
    if not known:
        return '<span class="muted">–</span>'
    top = 1.0 if percent else nice_ceiling(max(value for _index, value in known))
    step = (width - 6) / max(len(values) - 1, 1)
    points = [(3 + index * step, height - 3 - (height - 6) * value / top) for index, value in known]
    drawn = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
    last_x, last_y = points[-1]
    return (
        f'<svg class="spark" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{html.escape(label)}</title>'
        f'<polyline points="{drawn}" fill="none" stroke="{PALETTE[0]}" stroke-width="1.5"/>'
        f'<circle cx="{last_x:.1f}" cy="{last_y:.1f}" r="2.5" fill="{PALETTE[0]}"/></svg> '
        f"{format_number(known[-1][1], percent)}"
    )


def cell(value: Any, *, percent: bool = False) -> str:
    if value is None:
        return '<td class="muted">–</td>'
    if isinstance(value, float | int) and not isinstance(value, bool):
        return f'<td class="num">{format_number(float(value), percent)}</td>'
    if isinstance(value, datetime):
        return f"<td>{value:%Y-%m-%d %H:%M}</td>"
    text = " ".join(str(value).split())
    short = text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"
    return f'<td title="{html.escape(text)}">{html.escape(short)}</td>'


def health_table(data: ReportData, days: Sequence[date]) -> str:
    trends: dict[str, dict[date, Mapping[str, Any]]] = defaultdict(dict)
    for row in data.health_by_day:
        trends[row["source"]][row["day"]] = row
    header = (
        "<tr><th>source</th><th>runs</th><th>failed</th><th>discovered</th><th>loaded</th><th>updated</th>"
        "<th>rejected</th><th>reject rate</th><th>fetch failures</th><th>blocked</th><th>empty text</th>"
        "<th>no date</th><th>no author</th><th>flagged</th><th>articles / day</th><th>empty text / day</th>"
        "<th>median words / day</th></tr>"
    )
    rows = []
    for source in data.health:
        daily = trends.get(source["source"], {})

        def series(name: str, daily: Mapping[date, Mapping[str, Any]] = daily) -> list[float | None]:
            return [daily[day][name] if day in daily else None for day in days]

        name = source["source"]
        rows.append(
            f"<tr>{cell(name)}{cell(source['runs'])}{cell(source['runs_failed'])}{cell(source['discovered'])}"
            f"{cell(source['loaded'])}{cell(source['updated'])}{cell(source['rejected'])}"
            f"{cell(source['reject_rate'], percent=True)}{cell(source['fetch_failure_rate'], percent=True)}"
            f"{cell(source['blocked_rate'], percent=True)}{cell(source['empty_text_rate'], percent=True)}"
            f"{cell(source['missing_date_share'], percent=True)}{cell(source['missing_author_share'], percent=True)}"
            f"{cell(source['flagged'])}"
            f"<td class='trend'>{sparkline(series('articles'), percent=False, label=f'{name}: articles per day')}</td>"
            f"<td class='trend'>{sparkline(series('empty_text_rate'), percent=True, label=f'{name}: empty text')}</td>"
            f"<td class='trend'>{sparkline(series('median_words'), percent=False, label=f'{name}: median words')}</td>"
            "</tr>"
        )
    if not rows:
        return '<p class="muted">No run in this period.</p>'
    return f'<table id="source-health">{header}{"".join(rows)}</table>'


def simple_table(table_id: str, rows: Sequence[Mapping[str, Any]], columns: Sequence[str], empty: str) -> str:
    if not rows:
        return f'<p id="{table_id}" class="muted">{html.escape(empty)}</p>'
    header = "".join(f"<th>{html.escape(column.replace('_', ' '))}</th>" for column in columns)
    body = "".join(
        "<tr>" + "".join(cell(row[column], percent=column.endswith("rate")) for column in columns) + "</tr>"
        for row in rows
    )
    return f'<table id="{table_id}"><tr>{header}</tr>{body}</table>'


STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px auto; max-width: 1280px;
       padding: 0 16px; color: #1b1b1b; background: #fff; }
h1 { font-size: 22px; margin-bottom: 0; } h2 { font-size: 17px; margin-top: 32px; border-bottom: 1px solid #ddd; }
.meta, .muted { color: #666; } table { border-collapse: collapse; margin: 8px 0; }
th, td { padding: 3px 6px; border-bottom: 1px solid #eee; text-align: left; vertical-align: middle; }
th { background: #f5f5f5; font-weight: 600; font-size: 13px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.chart text { font-size: 11px; fill: #555; } .chart .grid { stroke: #e5e5e5; }
.legend .key { margin-right: 14px; white-space: nowrap; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 2px; }
.alert { border-left: 4px solid #D55E00; background: #fff4ec; padding: 6px 10px; margin: 6px 0; }
.ok { border-left: 4px solid #009E73; background: #eefaf5; padding: 6px 10px; }
.spark { vertical-align: middle; } td.trend { white-space: nowrap; }
"""


def render_html(data: ReportData) -> str:
    """The whole page as one string."""
    days = days_between(data.since, data.until)
    articles = line_chart(
        "chart-articles",
        "Articles loaded per source per day",
        days,
        daily_series(data.articles_by_day, days, keep=len(PALETTE)),
        percent=False,
    )
    rejects = line_chart(
        "chart-rejects",
        "Rejects by rule per day",
        days,
        daily_series(data.rejects_by_day, days, keep=CHART_RULES),
        percent=False,
    )
    alerts = "".join(
        f'<div class="alert"><b>{html.escape(alert["source"])}</b> · {html.escape(alert["metric"])}: '
        f"{html.escape(alert['message'])} <span class='muted'>(since {alert['raised_at']:%Y-%m-%d %H:%M} UTC, "
        f"{alert['runs_crossed']} run{'s' if alert['runs_crossed'] != 1 else ''})</span></div>"
        for alert in data.open_alerts
    )
    period = f"{data.since.isoformat()} to {data.until.isoformat()}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>newsdag report, {period}</title><style>{STYLE}</style></head>
<body>
<h1>newsdag report</h1>
<p class="meta">{period} (UTC) · {html.escape(data.database)} · written {data.generated_at:%Y-%m-%d %H:%M} UTC</p>
<h2 id="alerts">Open alerts</h2>
<section id="open-alerts">{alerts or '<p class="ok">No open alert: every source is within its baseline.</p>'}</section>
<h2>Articles per source per day</h2>
<p class="muted">New articles by the day newsdag first loaded them (exact duplicates not counted).</p>
{articles}
<h2>Rejects by rule over time</h2>
<p class="muted">Inputs that did not become articles, by rule, per day they were recorded.</p>
{rejects}
<h2>Source health</h2>
<p class="muted">Each source over the period; rates over requests (fetch failures, blocked), pages extracted (empty
text) and articles extracted (no date, no author). Trend lines: one point per day.</p>
{health_table(data, days)}
<h2>Largest stories</h2>
{
        simple_table(
            "stories",
            data.stories,
            ("title", "article_count", "outlet_count", "first_day", "last_day", "outlets"),
            "No story gained articles in this period.",
        )
    }
<h2>Recent runs</h2>
{
        simple_table(
            "runs",
            data.runs,
            (
                "started_at",
                "source",
                "trigger",
                "status",
                "seconds",
                "discovered",
                "loaded",
                "updated",
                "rejected",
                "flagged",
                "error",
            ),
            "No run in this period.",
        )
    }
</body></html>
"""


def write_report(path: Path, page: str) -> None:
    """Write the page atomically: a browser or a second run never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=".report-", suffix=".html")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as temp_file:
            temp_file.write(page)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
