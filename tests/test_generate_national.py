"""The national generator on a small run across the 2025 reform (Lai Châu and Đà Nẵng, 2024–2025):
every unit of each month's map reports on that map, the cumulative, campaign and target files add
up what the monthly files say, and the real loader takes every file whole."""

from __future__ import annotations

import csv
import functools
import os
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from conftest import rows as query

from nhandao import periods, reference, submission_format
from nhandao.cli import main
from nhandao.ingest import load
from nhandao.periods import parse_period
from nhandao.sample import generate

SEED = 3
YEARS = range(2024, 2026)
PROVINCES = ["12", "48"]  # Lai Châu (kept whole in 2025) and Đà Nẵng (merged with Quảng Nam)
REFORM_DAY = date(2025, 7, 1)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return generate.generate_national(tmp_path_factory.mktemp("a"), YEARS, SEED, PROVINCES)


def read(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def sent_on(path) -> datetime:
    return datetime.fromtimestamp(os.stat(path).st_mtime, tz=UTC).astimezone(
        submission_format.VIETNAM
    )


def kind(path) -> str:
    """month, resubmission, ytd, quarter, campaign or targets, from the file's name."""
    if "chi-tieu" in path.name:
        return "targets"
    if path.stem.endswith("_v2"):
        return "resubmission"
    return parse_period(path.stem.rsplit("-", 1)[1]).period_type


@functools.cache
def versions() -> dict[str, list[reference.AdminUnit]]:
    by_code: dict[str, list[reference.AdminUnit]] = defaultdict(list)
    for unit in reference.admin_unit_versions():
        by_code[unit.code].append(unit)
    return by_code


def unit_on(code: str, day: date) -> reference.AdminUnit | None:
    """reference.unit_on, by an index (the files name tens of thousands of units)."""
    return next((u for u in versions().get(code, ()) if u.valid_on(day)), None)


def reporter_of(code: str, period: str) -> str:
    """The unit that owes the report a figure belongs to: a ward's district before the reform."""
    unit = unit_on(code, parse_period(period).end)
    return unit.parent_code if unit.level == "ward" and unit.valid_from < REFORM_DAY else unit.code


@pytest.fixture(scope="module")
def current(small) -> dict[str, list[dict[str, str]]]:
    """Monthly files by name, the resubmitted version in place of the first where there is one."""
    monthly = {p.name: read(p) for p in small if kind(p) == "month"}
    for path in small:
        if kind(path) == "resubmission":
            monthly[path.name.replace("_v2", "")] = read(path)
    return monthly


def test_every_reporting_unit_of_each_months_map_reports(small):
    received = set()
    for path in small:
        if kind(path) == "month":
            reporters = {
                (reporter_of(r["reporting_unit_code"], r["period"]), r["period"])
                for r in read(path)
                if len(r["period"]) == 7
            }
            assert len(reporters) == 1, f"{path.name} is one unit's report"
            received |= reporters
    expected, missing = set(), set()
    for year in YEARS:
        for month in range(1, 13):
            end = periods.month_end(year, month)
            if end < REFORM_DAY:  # each district with wards
                units = [
                    d
                    for p in PROVINCES
                    for d in reference.children(p, end)
                    if reference.children(d.code, end)
                ]
            else:  # each commune, ward and special zone of the new provinces
                new = {n for p in PROVINCES for n in generate.new_provinces_of(p)}
                units = [c for p in sorted(new) for c in reference.children(p, end)]
            for unit in units:
                key = (unit.code, f"{year}M{month:02d}")
                expected.add(key)
                if generate.monthly_report_fate(SEED, unit.code, year, month).sent_at is None:
                    missing.add(key)
    assert generate.new_provinces_of("48") == ["48"] and generate.new_provinces_of("49") == ["48"]
    assert len({code for code, period in expected if period == "2025M07"}) == 38 + 94
    assert 0 < len(missing) < 0.03 * len(expected), "a few reports are never sent"
    assert received == expected - missing


def test_each_period_names_the_units_of_its_own_map(small):
    reused = 0
    for path in small:
        for row in read(path):
            end = parse_period(row.get("period") or row["year"]).end
            unit = unit_on(row["reporting_unit_code"], end)
            assert unit is not None, (path.name, row)
            assert (unit.valid_from >= REFORM_DAY) == (end >= REFORM_DAY), (path.name, row)
            assert unit.name == row["reporting_unit_name"], (path.name, row)
            old = reference.admin_units().get(unit.code)
            reused += end >= REFORM_DAY and old is not None and old.name != unit.name
    assert reused, "new wards that reuse an old ward's code carry their new name"
    after = [p for p in small if p.name.startswith("48-") and "2025M1" in p.name]
    assert after and all(
        not reference.children(p.name.split("-")[1], date(2024, 1, 1)) for p in after
    )


def test_the_same_seed_writes_the_same_files(small, tmp_path):
    again = generate.generate_national(tmp_path / "b", YEARS, SEED, PROVINCES)
    assert [p.name for p in again] == [p.name for p in small]
    for first, second in zip(small, again, strict=True):
        assert first.read_bytes() == second.read_bytes(), first.name
        assert os.stat(first).st_mtime == os.stat(second).st_mtime, first.name
    other = generate.generate_national(tmp_path / "c", range(2025, 2026), SEED + 1, ["12"])
    both = [(p, small[0].parent / p.name) for p in other if (small[0].parent / p.name).exists()]
    assert len(both) > 100 and all(a.read_bytes() != b.read_bytes() for a, b in both)


def test_reports_arrive_late_and_some_are_resent_corrected(small):
    monthly = [p for p in small if kind(p) == "month"]
    due = {p: parse_period(p.stem.split("-")[2]).end + timedelta(days=10) for p in monthly}
    late = [p for p in monthly if sent_on(p).date() > due[p]]
    assert 0.03 < len(late) / len(monthly) < 0.3
    resent = [p for p in small if kind(p) == "resubmission"]
    assert resent
    for path in resent:
        first = path.with_name(path.name.replace("_v2", ""))
        assert sorted([path.name, first.name])[0] == first.name  # loaded by name: in order
        assert sent_on(path) > sent_on(first)
        figures = [
            {
                (r["reporting_unit_code"], r["indicator_code"], r["program_code"], r["value"])
                for r in read(version)
            }
            for version in (first, path)
        ]
        assert 1 <= len(figures[0] ^ figures[1]) <= 7  # a few values corrected, added, withdrawn


def number(text: str) -> float:
    """A value the Vietnamese way or plain: 1.085, 624.845.000 đồng, 133.251.000đ, 120 triệu
    đồng, 13,8 tỷ đồng, hơn 200, 02, 109,5."""
    words, scale = text.removeprefix("hơn ").removeprefix("khoảng "), 1
    for suffix, factor in ((" tỷ đồng", 10**9), (" triệu đồng", 10**6), (" đồng", 1), ("đ", 1)):
        if words.endswith(suffix):
            words, scale = words.removesuffix(suffix), factor
            break
    if "," in words or words.count(".") > 1 or len(words.partition(".")[2]) == 3:
        words = words.replace(".", "").replace(",", ".")
    return round(float(words) * scale, 1)


def monthly_sums(table, province: str, code: str, year: int, months) -> dict[tuple, int]:
    """(unit, indicator, program) -> the sum of a reporter's current monthly figures."""
    sums: dict[tuple, int] = defaultdict(int)
    for month in months:
        for row in table.get(f"{province}-{code}-{year}M{month:02d}.csv", []):
            if len(row["period"]) == 7:
                key = (row["reporting_unit_code"], row["indicator_code"], row["program_code"])
                sums[key] += number(row["value"])
    return sums


ONLY_CUMULATIVE = ("first_aid_classes", "first_aid_trainees", "volunteers")


def test_year_to_date_and_quarterly_reports_add_up_the_months(small, current):
    cumulative = [p for p in small if kind(p) in ("ytd", "quarter")]
    assert {kind(p) for p in cumulative} == {"ytd", "quarter"}
    checked = 0
    trainees: dict[tuple, list[int]] = defaultdict(list)
    for path in sorted(cumulative):  # by unit, then period: YTD03 … YTD12
        rows = read(path)
        period = parse_period(rows[0]["period"])
        # the new communes did not exist in January 2025: they report quarters that year
        assert period.period_type == ("quarter" if period.start >= REFORM_DAY else "ytd")
        province, code = path.name.split("-")[:2]
        months = range(period.start.month, period.end.month + 1)
        sums = monthly_sums(current, province, code, period.end.year, months)
        for row in rows:
            key = (row["reporting_unit_code"], row["indicator_code"], row["program_code"])
            if row["indicator_code"] in ONLY_CUMULATIVE:
                if row["indicator_code"] == "first_aid_trainees" and period.period_type == "ytd":
                    trainees[(code, period.end.year)].append(number(row["value"]))
                continue
            assert number(row["value"]) == sums[key], (path.name, row)
            checked += 1
    assert checked > 100
    assert trainees and all(values == sorted(values) for values in trainees.values())


def test_campaign_reports_add_up_their_months(small, current):
    campaigns = [p for p in small if kind(p) == "campaign"]
    assert {p.stem.rsplit("-", 1)[1] for p in campaigns} == {
        f"{year}{campaign}" for year in YEARS for campaign in ("TET", "NHANDAO", "HTD")
    }
    checked = 0
    for path in campaigns:
        rows = read(path)
        period = parse_period(rows[0]["period"])
        province, code = path.name.split("-")[:2]
        unit = unit_on(code, period.end)
        assert {r["reporting_unit_code"] for r in rows} == {code}
        assert (unit.valid_from >= REFORM_DAY) == (period.end >= REFORM_DAY)
        year = period.end.year
        months = [  # Hành trình đỏ 2025: the new communes report July and August
            m
            for m in generate._campaign_months(period, year)
            if (periods.month_end(year, m) >= REFORM_DAY) == (period.end >= REFORM_DAY)
        ]
        sums = monthly_sums(current, province, code, year, months)
        for row in rows:
            total = sum(
                value
                for (_, indicator, program), value in sums.items()
                if indicator == row["indicator_code"] and program == row["program_code"]
            )
            assert number(row["value"]) == total, (path.name, row)
            checked += 1
    assert checked > 50


def test_each_province_sends_its_targets_every_year(small, current):
    targets = {p.name: read(p) for p in small if kind(p) == "targets"}
    assert set(targets) == {f"{p}-chi-tieu-{y}.csv" for p in PROVINCES for y in YEARS}
    for path in small:
        if kind(path) == "targets":
            with open(path, encoding="utf-8") as f:
                assert f.readline().strip().split(",") == submission_format.TARGET_COLUMNS
    new_danang = {r["reporting_unit_code"] for r in targets["48-chi-tieu-2025.csv"]}
    assert "48" in new_danang and len(new_danang) > 90  # the new communes, former Quảng Nam too
    assert "492" in {r["reporting_unit_code"] for r in targets["48-chi-tieu-2024.csv"]}
    stated = {}
    for path in small:
        if kind(path) == "month" and path.name.endswith("2024M12.csv"):
            for row in read(path):
                if row["indicator_code"] == "target_attainment_pct":
                    stated[row["reporting_unit_code"]] = number(row["value"])
    assert len(stated) >= 10
    target = {
        r["reporting_unit_code"]: int(r["target"])
        for r in targets["48-chi-tieu-2024.csv"] + targets["12-chi-tieu-2024.csv"]
        if r["indicator_code"] == "blood_units"
    }
    close = 0
    for code, pct in stated.items():
        prefix = next(p.name.split("-")[0] for p in small if p.name.split("-")[1] == code)
        blood = sum(
            number(r["value"])
            for m in range(1, 13)
            for r in current.get(f"{prefix}-{code}-2024M{m:02d}.csv", [])
            if r["indicator_code"] == "blood_units"
        )
        close += abs(100 * blood / target[code] - pct) <= 0.1
    assert close >= len(stated) - 2  # a unit now and then states it before December counted


def test_nothing_is_generated_for_the_future(tmp_path):
    today = date.today()
    paths = generate.generate_national(tmp_path, range(today.year - 1, today.year + 1), 1, ["12"])
    assert paths
    now = datetime.now(UTC).timestamp()
    for path in paths:
        assert os.stat(path).st_mtime <= now
        for row in read(path):
            assert parse_period(row.get("period") or row["year"]).start <= today
            if "period" in row:
                assert parse_period(row["period"]).end < today


def test_provinces_are_codes_of_the_old_map(tmp_path):
    with pytest.raises(ValueError, match="unknown province"):
        generate.generate_national(tmp_path, YEARS, 1, ["492"])


def test_the_command_writes_a_national_run(tmp_path, capsys):
    out = tmp_path / "out"
    args = ["generate", "--national", "--years", "2025", "--provinces", "12", "--out", str(out)]
    assert main(args) == 0
    line = capsys.readouterr().out
    files = list(out.iterdir())
    figures = sum(len(read(p)) for p in files if "chi-tieu" not in p.name)
    assert line.startswith(f"wrote {len(files)} files to {out}: {figures:,} figures")
    assert main(["generate", "--province", "12", "--provinces", "12", "--out", str(out)]) == 2


def test_the_loader_takes_every_file_whole(warehouse_url, tmp_path):
    paths = generate.generate_national(tmp_path, YEARS, SEED, ["12"])
    assert {kind(p) for p in paths} == {
        "month",
        "resubmission",
        "ytd",
        "quarter",
        "campaign",
        "targets",
    }
    results = load.ingest_paths(sorted(paths), warehouse_url)  # by name, as the landing zone
    problems = [r.line() for r in results if r.status != "loaded" or r.rows_rejected]
    assert not problems
    assert [r.rows_loaded for r in results] == [len(read(p)) for p in sorted(paths)]
    by_name = {
        name: (kind_, submitted_at)
        for name, kind_, submitted_at in query(
            warehouse_url,
            "select file_name, submission_kind, submitted_at from raw.submission_files",
        )
    }
    assert len(by_name) == len(paths)
    read_as = dict(
        query(
            warehouse_url,
            "select file_name, sum(coalesce(parsed_value, cast(value as numeric)))"
            " from raw.submission_rows"
            " join raw.submission_files using (file_id) group by file_name",
        )
    )
    for path in paths:  # the loader reads 1.085, 120 triệu đồng, hơn 200 as the test does
        column = "target" if kind(path) == "targets" else "value"
        assert float(read_as[path.name]) == pytest.approx(
            sum(number(r[column]) for r in read(path))
        ), path.name
    for path in paths:
        assert by_name[path.name] == (
            "targets" if kind(path) == "targets" else "figures",
            datetime.fromtimestamp(os.stat(path).st_mtime, tz=UTC),
        )
