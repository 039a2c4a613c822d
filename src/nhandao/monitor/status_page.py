"""`nhandao report --out DIR`: the status page a provincial IT officer opens (DIR/index.html).

One self-contained HTML file: per province the last load, publication and gate result, what is
held back and why, completeness of the current period, the late and missing reports, and
charts (completeness by reporting unit, aid value and blood units by year) drawn with
matplotlib as inline SVG. The gate reports it links to are copied beside it, so the folder
can be zipped, mailed or served as it is.
"""

from __future__ import annotations

import io
import shutil
from datetime import date
from pathlib import Path

import psycopg

from nhandao import reference
from nhandao.gate import report
from nhandao.monitor import completeness

CHART_PERIODS = 12  # completeness by unit over the last twelve periods due
CHART_UNITS = 30  # at most this many units per chart: the least complete first


def _svg(figure) -> str:
    buffer = io.StringIO()
    figure.savefig(
        buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None}
    )
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams.update({"svg.fonttype": "none", "font.size": 9})
    import matplotlib.pyplot as plt

    return plt


def completeness_by_unit_chart(conn: psycopg.Connection, province: str, today: date) -> str | None:
    rows = conn.execute(
        """
        with recent as (
            select distinct period_code, due_date from marts.mart_reporting_completeness
            where current_province_code = %(province)s and due_date < %(today)s
            order by due_date desc limit %(periods)s
        )
        select admin_unit_name, 100.0 * sum(received) / sum(expected) as pct
        from marts.mart_reporting_completeness
        where current_province_code = %(province)s
            and period_code in (select period_code from recent)
        group by admin_unit_name order by pct, admin_unit_name limit %(units)s
        """,
        {"province": province, "today": today, "periods": CHART_PERIODS, "units": CHART_UNITS},
    ).fetchall()
    if not rows:
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 0.25 * len(rows) + 1))
    names = [name for name, _ in rows][::-1]
    values = [float(pct) for _, pct in rows][::-1]
    bars = axes.barh(names, values, color=["#b91c1c" if v < 80 else "#15803d" for v in values])
    axes.bar_label(bars, labels=[f"{v:.0f}%" for v in values], padding=2, fontsize=7)
    axes.set_xlim(0, 105)
    axes.set_xlabel("% báo cáo đã nhận / reports received")
    axes.set_title(
        f"Mức đầy đủ theo đơn vị, {len(rows)} đơn vị thấp nhất, {CHART_PERIODS} kỳ gần nhất"
    )
    svg = _svg(figure)
    plt.close(figure)
    return svg


def completeness_over_time_chart(
    conn: psycopg.Connection, province: str, today: date
) -> str | None:
    rows = conn.execute(
        """
        select period_code, 100.0 * sum(received) / sum(expected),
            100.0 * sum(on_time) / sum(expected)
        from marts.mart_reporting_completeness
        where current_province_code = %s and due_date < %s
        group by period_code order by max(due_date) desc limit 36
        """,
        (province, today),
    ).fetchall()[::-1]
    if not rows:
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(9, 2.6))
    periods = [period for period, _, _ in rows]
    axes.plot(periods, [float(r) for _, r, _ in rows], marker="o", ms=3, label="đã nhận / received")
    axes.plot(periods, [float(t) for _, _, t in rows], ls="--", label="đúng hạn / on time")
    axes.set_ylim(-5, 105)
    axes.set_ylabel("%")
    axes.set_xticks(periods[:: max(1, len(periods) // 12)])
    axes.legend(loc="lower left", fontsize=8)
    axes.set_title("Mức đầy đủ theo kỳ / completeness by period (36 kỳ gần nhất)")
    svg = _svg(figure)
    plt.close(figure)
    return svg


def totals_by_year_chart(conn: psycopg.Connection, province: str) -> str | None:
    rows = conn.execute(
        """
        select year, indicator_code, sum(total)
        from marts.mart_unit_scorecard
        where current_province_code = %s and admin_level = 'province'
            and indicator_code in ('aid_value_vnd', 'blood_units')
        group by year, indicator_code order by year
        """,
        (province,),
    ).fetchall()
    if not rows:
        return None
    plt = _pyplot()
    figure, (aid, blood) = plt.subplots(1, 2, figsize=(9, 3))
    for axes, indicator, scale, label, color in (
        (aid, "aid_value_vnd", 1e9, "Giá trị trợ giúp (tỷ đồng) / aid value (bn VND)", "#1d4ed8"),
        (blood, "blood_units", 1, "Đơn vị máu / blood units", "#b91c1c"),
    ):
        points = [(year, float(total) / scale) for year, code, total in rows if code == indicator]
        if points:
            axes.bar([str(y) for y, _ in points], [v for _, v in points], color=color)
        axes.set_title(label)
    svg = _svg(figure)
    plt.close(figure)
    return svg


def write(conn: psycopg.Connection, out_dir: Path, today: date | None = None) -> Path:
    """Write DIR/index.html (and the gate reports it links to); return the page's path."""
    today = today or date.today()
    out_dir.mkdir(parents=True, exist_ok=True)
    states = completeness.province_states(conn, today)
    overdue = completeness.overdue_reports(conn, today)
    has_marts = completeness._exists(conn, "marts.mart_unit_scorecard")
    provinces = []
    for state in states:
        charts = []
        if has_marts:
            charts = [
                chart
                for chart in (
                    completeness_over_time_chart(conn, state.province_code, today),
                    completeness_by_unit_chart(conn, state.province_code, today),
                    totals_by_year_chart(conn, state.province_code),
                )
                if chart
            ]
        late = [row for row in overdue if row[0] == state.province_code]
        provinces.append({"state": state, "charts": charts, "overdue": late})
    runs = conn.execute(
        "select gate_run_id, started_at, success, coalesce(provinces_held_back, '{}'),"
        " report_path, (select count(*) from monitoring.gate_results r"
        "  where r.gate_run_id = g.gate_run_id and not r.success and r.severity <> 'critical')"
        " from monitoring.gate_runs g order by started_at desc limit 10"
    ).fetchall()
    gate_runs = []
    for run_id, started_at, success, held_back, report_path, warnings in runs:
        link = None
        if report_path and Path(report_path).is_file():
            (out_dir / "gate").mkdir(exist_ok=True)
            shutil.copy2(report_path, out_dir / "gate" / Path(report_path).name)
            link = f"gate/{Path(report_path).name}"
        gate_runs.append(
            {
                "id": run_id,
                "at": started_at,
                "success": success,
                "held_back": [f"{p} {reference.province_name(p)}" for p in held_back],
                "warnings": warnings,
                "link": link,
            }
        )
    page = out_dir / "index.html"
    page.write_text(
        report.render("status.html.j2", provinces=provinces, gate_runs=gate_runs, today=today),
        encoding="utf-8",
    )
    return page
