"""Pure functions: periods, text folding, the generator, URL handling."""

from datetime import date

import pytest

from nhandao import reference, warehouse
from nhandao.gate.validate import sqlalchemy_url
from nhandao.periods import parse_period
from nhandao.sample import generate
from nhandao.text import fold


@pytest.mark.parametrize(
    ("code", "period_type", "start", "end"),
    [
        ("2024", "year", date(2024, 1, 1), date(2024, 12, 31)),
        ("2024S2", "half", date(2024, 7, 1), date(2024, 12, 31)),
        ("2024Q1", "quarter", date(2024, 1, 1), date(2024, 3, 31)),
        ("2024M02", "month", date(2024, 2, 1), date(2024, 2, 29)),
        ("2023M12", "month", date(2023, 12, 1), date(2023, 12, 31)),
        ("2024YTD09", "ytd", date(2024, 1, 1), date(2024, 9, 30)),
        ("2024TET", "campaign", date(2023, 12, 27), date(2024, 2, 24)),  # Tết on 10 Feb 2024
        ("2025NHANDAO", "campaign", date(2025, 5, 1), date(2025, 5, 31)),
    ],
)
def test_periods(code, period_type, start, end):
    period = parse_period(code)
    assert (period.period_type, period.start, period.end) == (period_type, start, end)


@pytest.mark.parametrize(
    "code", ["2024M13", "2024Q5", "24M01", "2024-09", "2024YTD00", "", "2040TET", "2024FOO"]
)
def test_bad_periods(code):
    with pytest.raises(ValueError):
        parse_period(code)


def test_fold_strips_vietnamese_diacritics():
    assert fold("Phường Hòa Thuận Tây") == "Phuong Hoa Thuan Tay"
    assert fold("Đà Nẵng") == "Da Nang"


def test_reference_has_the_real_units():
    units = reference.admin_units()
    assert units["48"].name == "Thành phố Đà Nẵng"
    assert units["492"].parent_code == "48"
    assert units["20245"].short_name == "Hòa Thuận Tây"
    assert units["20245"].parent_code == "492"
    assert sum(u.level == "province" for u in units.values()) == 63


def test_generator_is_deterministic_and_seasonal(tmp_path):
    first = generate.generate_province("48", range(2023, 2024), tmp_path / "a", seed=5)
    second = generate.generate_province("48", range(2023, 2024), tmp_path / "b", seed=5)
    assert [p.name for p in first] == [p.name for p in second]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(first, second, strict=True))
    # 7 districts with wards report every month (Hoàng Sa has no wards and does not)
    assert len(first) == 7 * 12
    district = reference.admin_units()["492"]
    january = generate.district_month(5, district, 2023, 1)
    april = generate.district_month(5, district, 2023, 4)
    gifts = {
        m: sum(f.value for f in figs if f.indicator == "aid_value_vnd")
        for m, figs in (("jan", january), ("apr", april))
    }
    assert gifts["jan"] > 2 * gifts["apr"]  # the Tết peak
    assert {f.program for f in january} >= {"tet", "blood_donation", "general"}


def test_unknown_province_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown province"):
        generate.generate_province("492", range(2023, 2024), tmp_path)


def test_urls():
    parts = warehouse.split_url("postgresql://postgres:@/nhandao?host=/tmp/x/pgdata")
    assert (parts.host, parts.port, parts.user, parts.dbname) == (
        "/tmp/x/pgdata",
        5432,
        "postgres",
        "nhandao",
    )
    parts = warehouse.split_url("postgresql://u:p%40ss@db.example:6543/wh")
    assert (parts.host, parts.port, parts.password) == ("db.example", 6543, "p@ss")
    assert sqlalchemy_url("postgresql://postgres:@/db?host=/s") == (
        "postgresql://postgres:@localhost/db?host=/s"
    )
    assert warehouse.with_database("postgresql://u@h:1/a?x=1", "b") == "postgresql://u@h:1/b?x=1"
