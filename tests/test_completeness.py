"""Completeness and timeliness from a real year of Đà Nẵng's files, one of them never sent."""

import os
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from conftest import rows

from nhandao import dbt, reference
from nhandao.ingest import load
from nhandao.periods import parse_period
from nhandao.sample import generate

pytestmark = pytest.mark.dbt

VIETNAM = timezone(timedelta(hours=7))


@pytest.fixture(scope="module")
def built(module_warehouse_url, manifest, tmp_path_factory):
    folder = tmp_path_factory.mktemp("danang")
    files = generate.generate_province("48", range(2024, 2025), folder, seed=5)
    never_sent = folder / "48-492-2024M03.csv"
    never_sent.unlink()
    files.remove(never_sent)
    results = load.ingest_paths(files, module_warehouse_url)
    assert {r.status for r in results} == {"loaded"}
    dbt.run(["build", "--quiet"], module_warehouse_url)
    return module_warehouse_url, files


def sent_late(path) -> bool:
    """From the file alone: sent (modified) after the 10th of the month after its period."""
    period = parse_period(path.stem.rsplit("-", 1)[1])
    sent = datetime.fromtimestamp(os.stat(path).st_mtime, tz=UTC).astimezone(VIETNAM).date()
    return sent > period.end + timedelta(days=10)


def test_each_district_month_is_expected_once_and_found(built):
    url, files = built
    statuses = {
        (code, period): status
        for code, period, status in rows(
            url,
            "select admin_unit_code, period_code, status from audit.mart_reporting_completeness"
            " where period_code like '2024%%'",
        )
    }
    districts = [
        d.code
        for d in reference.children("48", date(2024, 12, 31))
        if reference.children(d.code, date(2024, 12, 31))
    ]
    assert len(districts) == 7  # Hoàng Sa has no wards and owes no report
    assert set(statuses) == {(d, f"2024M{m:02d}") for d in districts for m in range(1, 13)}
    assert statuses[("492", "2024M03")] == "missing"
    expected_late = {tuple(p.stem.split("-")[1:]) for p in files if sent_late(p)}
    assert expected_late, "the generator sends some reports late"
    assert {key for key, status in statuses.items() if status == "late"} == expected_late
    on_time = {key for key, status in statuses.items() if status == "on_time"}
    assert len(on_time) == len(files) - len(expected_late)


def test_after_the_reform_the_new_wards_owe_reports(built):
    url, _ = built
    new_wards = {
        u.code
        for u in reference.admin_unit_versions()
        if u.level == "ward" and u.valid_to is None and u.province_code == "48"
    }
    today = date.today()
    months = (today.year - 2025) * 12 + today.month - 7  # July 2025 to last month, inclusive
    owed = rows(
        url,
        "select obligation_code, count(distinct admin_unit_code), count(*), sum(received)"
        " from audit.mart_reporting_completeness where period_end_date >= '2025-07-01'"
        " group by obligation_code",
    )
    assert owed == [("commune_monthly", len(new_wards), len(new_wards) * months, 0)]


def test_completeness_never_exceeds_everything_owed(built):
    url, _ = built
    ratios = rows(
        url,
        "select period_code, sum(received)::numeric / sum(expected), sum(on_time + late),"
        " sum(received) from audit.mart_reporting_completeness group by period_code",
    )
    assert all(0 <= ratio <= 1 and arrived == received for _, ratio, arrived, received in ratios)
    assert rows(
        url,
        "select sum(missing) from audit.mart_reporting_completeness"
        " where period_code like '2024%%'",
    ) == [(1,)]
