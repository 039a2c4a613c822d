"""The submission format (long CSV v1): its columns, its qualifiers and the words for them, and
the time zone its dates and deadlines are read in. Every part of nhandao that reads or writes a
submission imports these from here (docs/submission-format.md describes the format)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

# A file of figures: one row per unit, period, indicator and program.
COLUMNS = [
    "reporting_unit_code",
    "reporting_unit_name",
    "period",
    "indicator_code",
    "value",
    "qualifier",
    "program_code",
    "note",
]
# Targets the level above assigns, per unit, year and indicator, as a file of their own.
TARGET_COLUMNS = [
    "reporting_unit_code",
    "reporting_unit_name",
    "year",
    "indicator_code",
    "target",
    "note",
]
# ...read into the same table as figures: the year is the period, the target the value.
TARGET_INCOMING_COLUMNS = [
    "reporting_unit_code",
    "reporting_unit_name",
    "period",
    "indicator_code",
    "value",
    "note",
]

# How exact a figure is, from the most exact: `1.085`, `hơn 1.085` (more than), `gần 1.085` (about).
QUALIFIERS = ("exact", "lower_bound", "approximate")
# The words before a number that say so, as districts write them.
LOWER_BOUND_WORDS = ("hơn", "trên")
APPROXIMATE_WORDS = ("gần", "khoảng", "hàng", "ước", "xấp xỉ", "chừng")
# The word a figure is shown with to readers (`hơn 1.085`, `khoảng 300`).
QUALIFIER_PREFIX = {"exact": "", "lower_bound": "hơn ", "approximate": "khoảng "}

# Dates, deadlines and sending times are Vietnam's (UTC+7, no daylight saving).
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
