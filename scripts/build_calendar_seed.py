"""Write seeds/reporting_calendar.csv: the campaign periods reports may be made for.

- `{year}TET`: "Tết vì người nghèo và nạn nhân chất độc da cam", the campaign for the lunar new
  year falling in `year`, from 45 days before Tết to the 15th day of the first lunar month.
- `{year}NHANDAO`: Humanitarian Month (Tháng Nhân đạo), 1–31 May.
- `{year}HTD`: the "Hành trình đỏ" summer blood drives, 1 June – 31 August.
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

# Mùng 1 Tết (first day of the lunar year) in Vietnam, 2015–2035.
TET = {
    2015: date(2015, 2, 19),
    2016: date(2016, 2, 8),
    2017: date(2017, 1, 28),
    2018: date(2018, 2, 16),
    2019: date(2019, 2, 5),
    2020: date(2020, 1, 25),
    2021: date(2021, 2, 12),
    2022: date(2022, 2, 1),
    2023: date(2023, 1, 22),
    2024: date(2024, 2, 10),
    2025: date(2025, 1, 29),
    2026: date(2026, 2, 17),
    2027: date(2027, 2, 6),
    2028: date(2028, 1, 26),
    2029: date(2029, 2, 13),
    2030: date(2030, 2, 3),
    2031: date(2031, 1, 23),
    2032: date(2032, 2, 11),
    2033: date(2033, 1, 31),
    2034: date(2034, 2, 19),
    2035: date(2035, 2, 8),
}
COLUMNS = ["period_code", "program_code", "name_vi", "name_en", "start_date", "end_date"]


def campaigns() -> list[list[str]]:
    rows = []
    for year, tet in TET.items():
        rows.append(
            [
                f"{year}TET",
                "tet",
                f"Tết vì người nghèo {year}",
                f"Tết campaign {year}",
                (tet - timedelta(days=45)).isoformat(),
                (tet + timedelta(days=14)).isoformat(),
            ]
        )
        rows.append(
            [
                f"{year}NHANDAO",
                "humanitarian_month",
                f"Tháng Nhân đạo {year}",
                f"Humanitarian Month {year}",
                f"{year}-05-01",
                f"{year}-05-31",
            ]
        )
        rows.append(
            [
                f"{year}HTD",
                "blood_donation",
                f"Hành trình đỏ {year}",
                f"Hành trình đỏ blood drives {year}",
                f"{year}-06-01",
                f"{year}-08-31",
            ]
        )
    return rows


def main() -> None:
    out = Path(__file__).resolve().parents[1] / "seeds" / "reporting_calendar.csv"
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(campaigns())
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
