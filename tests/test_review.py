"""Narrative reports in the landing zone: figures to review, reviewed with `nhandao review`, and
counted in the facts only once accepted. Real Postgres, real dbt builds."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import docx
import pytest
from conftest import rows

from nhandao import dbt, logins, submission_format, warehouse
from nhandao.cli import main
from nhandao.ingest import landing, load, review

HEADER = ",".join(submission_format.COLUMNS)

# Quận Hải Châu (492), September 2024: four figures and a plan, which is not a figure
DOCX_NAME = "492-2024M09-bao-cao.docx"
DOCX_PARAGRAPHS = [
    "BÁO CÁO KẾT QUẢ CÔNG TÁC HỘI THÁNG 9 NĂM 2024",
    "Trong tháng, Hội Chữ thập đỏ quận Hải Châu đã tổ chức 2 đợt hiến máu tình nguyện,"
    " tiếp nhận 1.085 đơn vị máu.",
    "Trao tặng hơn 350 suất quà cho các hộ nghèo, tổng trị giá khoảng 120 triệu đồng.",
    "Phấn đấu năm 2025 tiếp nhận 5.000 đơn vị máu.",
]
DOCX_FIGURES = [
    (1, "blood_drives", Decimal(2), "exact", "2 đợt hiến máu"),
    (2, "blood_units", Decimal(1085), "exact", "1.085 đơn vị máu"),
    (3, "gift_packages", Decimal(350), "lower_bound", "hơn 350 suất quà"),
    (4, "aid_value_vnd", Decimal(120_000_000), "approximate", "khoảng 120 triệu đồng"),
]
# Phường Hòa Thuận Tây (20245), August 2024, as plain text
TXT_NAME = "20245-2024M08-hoa-thuan-tay.txt"
TXT_TEXT = (
    "Hội Chữ thập đỏ phường Hòa Thuận Tây báo cáo kết quả tháng 8 năm 2024.\n"
    "Vận động 45 người hiến máu, tiếp nhận gần 60 đơn vị máu.\n"
    "Trao 120 suất quà trị giá 36.000.000 đồng.\n"
)
TXT_FIGURES = [
    (1, "blood_donors", Decimal(45), "exact", "45 người hiến máu"),
    (2, "blood_units", Decimal(60), "approximate", "gần 60 đơn vị máu"),
    (3, "gift_packages", Decimal(120), "exact", "120 suất quà"),
    (4, "aid_value_vnd", Decimal(36_000_000), "exact", "36.000.000 đồng"),
]
# The district's structured form for the same month: its blood units win over the narrative's
CSV_NAME = "48-492-2024M09.csv"
CSV_TEXT = HEADER + "\n492,Quận Hải Châu,2024M09,blood_units,900,,general,\n"

FACTS_SQL = """
select reporting_unit_code, period_code, indicator_code, value, qualifier, submission_file_id,
       source_row_number
from audit.fct_blood_units
union all
select reporting_unit_code, period_code, indicator_code, value, qualifier, submission_file_id,
       source_row_number
from audit.fct_aid_value
order by 1, 2, 3
"""


def write_docx(path: Path, paragraphs: list[str]) -> Path:
    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    document.save(str(path))
    return path


def land(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_docx(folder / DOCX_NAME, DOCX_PARAGRAPHS)
    (folder / TXT_NAME).write_text(TXT_TEXT, encoding="utf-8")
    (folder / CSV_NAME).write_text(CSV_TEXT, encoding="utf-8")


def process_landing() -> list[tuple[load.IngestResult, str]]:
    """What the ingest DAG does: the pending files, loaded as nhandao_loader, filed away."""
    return landing.process(landing.pending(), warehouse.runtime_url(logins.LOADER))


def file_ids(url: str) -> dict[str, int]:
    return dict(rows(url, "select file_name, file_id from raw.submission_files"))


# --- the whole path: landing → raw → review → facts ------------------------------------------


@pytest.fixture(scope="module")
def landed(module_warehouse_url):
    """The three files landed and processed as the DAG does, then a first dbt build."""
    folder = Path(landing.root().path)
    land(folder)
    results = process_landing()
    dbt.run(["build", "--quiet"], module_warehouse_url)
    return module_warehouse_url, folder, results


@pytest.mark.dbt
def test_narrative_files_load_as_figures_to_review(landed):
    url, folder, results = landed
    ids = file_ids(url)
    lines = sorted(result.line() for result, _ in results)
    assert lines == [
        f"loaded    {TXT_NAME}: 4 figures to review",
        f"loaded    {CSV_NAME}: 1 rows",
        f"loaded    {DOCX_NAME}: 4 figures to review",
    ]
    for name in (DOCX_NAME, TXT_NAME):  # filed away as every loaded file is
        assert (folder / landing.PROCESSED / f"{ids[name]}-{name}").is_file()
        assert not (folder / name).exists()

    files = rows(
        url,
        "select file_name, source_format, submission_kind, submitting_unit_code, row_count"
        " from raw.submission_files where source_format = 'narrative' order by file_id",
    )
    assert sorted(files) == [
        (TXT_NAME, "narrative", "narrative", "20245", 4),
        (DOCX_NAME, "narrative", "narrative", "492", 4),
    ]
    figures = rows(
        url,
        "select file_id, figure_number, reporting_unit_code, period, indicator_code, value,"
        " qualifier, text, sentence from raw.narrative_figures order by file_id, figure_number",
    )
    expected = [
        (ids[DOCX_NAME], n, "492", "2024M09", indicator, value, qualifier, text)
        for n, indicator, value, qualifier, text in DOCX_FIGURES
    ] + [
        (ids[TXT_NAME], n, "20245", "2024M08", indicator, value, qualifier, text)
        for n, indicator, value, qualifier, text in TXT_FIGURES
    ]
    assert sorted(f[:8] for f in figures) == sorted(expected)
    assert all(f[7] in f[8] for f in figures)  # each figure's words are in its sentence
    # nobody decided anything yet: everything needs review
    assert rows(url, "select count(*) from raw.narrative_reviews") == [(0,)]
    with warehouse.connect(url) as conn:
        assert {f.status for f in review.list_figures(conn, status="all")} == {"needs_review"}


@pytest.mark.dbt
def test_review_model_lists_them_and_the_facts_do_not_count_them(landed):
    url, _, _ = landed
    ids = file_ids(url)
    listed = rows(
        url,
        "select submission_file_id, figure_number, admin_unit_name, indicator_code, value,"
        " qualifier, figure_text, sentence, source_kind, review_status, is_counted"
        " from audit.review_narrative_figures order by submission_file_id, figure_number",
    )
    assert len(listed) == 8
    assert {(r[0], r[2]) for r in listed} == {
        (ids[DOCX_NAME], "Quận Hải Châu"),
        (ids[TXT_NAME], "Phường Hòa Thuận Tây"),
    }
    assert {r[8:] for r in listed} == {("narrative", "needs_review", False)}
    blood = next(r for r in listed if r[0] == ids[DOCX_NAME] and r[1] == 2)
    assert blood[3:7] == ("blood_units", Decimal(1085), "exact", "1.085 đơn vị máu")
    assert "tiếp nhận 1.085 đơn vị máu" in blood[7]

    # only the structured form counts
    assert rows(url, FACTS_SQL) == [
        ("492", "2024M09", "blood_units", Decimal(900), "exact", ids[CSV_NAME], 2)
    ]


@pytest.mark.dbt
def test_only_accepted_figures_reach_the_facts(landed, capsys):
    url, _, _ = landed
    ids = file_ids(url)
    report, text = str(ids[DOCX_NAME]), str(ids[TXT_NAME])

    assert main(["review", "list"]) == 0
    listing = capsys.readouterr().out
    assert "1.085 đơn vị máu" in listing and "hơn 350 suất quà" in listing
    assert "(8 số liệu / figures)" in listing

    # the report: the drives figure is rejected, blood units and gifts accepted by figure, the
    # aid value left unreviewed; the ward's text is accepted whole
    assert main(["review", "reject", report, "1", "--note", "đếm trùng", "--by", "lan"]) == 0
    assert "đã loại / rejected: tệp / file" in capsys.readouterr().out
    assert main(["review", "accept", report, "2", "3", "--by", "lan"]) == 0
    assert f"file {report}, số liệu / figures 2, 3" in capsys.readouterr().out
    assert main(["review", "accept", text, "--by", "lan"]) == 0
    assert f"file {text}, số liệu / figures 1, 2, 3, 4" in capsys.readouterr().out

    assert main(["review", "list", "--file", report]) == 0  # what is left: the aid value
    left = capsys.readouterr().out
    assert "khoảng 120 triệu đồng" in left and "(1 số liệu / figures)" in left

    # the review model shows the decisions at once, before any build
    statuses = rows(
        url,
        "select submission_file_id, figure_number, review_status, reviewed_by, review_note"
        " from audit.review_narrative_figures order by 1, 2",
    )
    assert statuses == sorted(
        [
            (ids[DOCX_NAME], 1, "rejected", "lan", "đếm trùng"),
            (ids[DOCX_NAME], 2, "accepted", "lan", None),
            (ids[DOCX_NAME], 3, "accepted", "lan", None),
            (ids[DOCX_NAME], 4, "needs_review", None, None),
            *[(ids[TXT_NAME], n, "accepted", "lan", None) for n in (1, 2, 3, 4)],
        ]
    )

    dbt.run(["build", "--quiet"], url)
    assert rows(url, FACTS_SQL) == [
        ("20245", "2024M08", "aid_value_vnd", Decimal(36_000_000), "exact", ids[TXT_NAME], 4),
        ("20245", "2024M08", "blood_donors", Decimal(45), "exact", ids[TXT_NAME], 1),
        ("20245", "2024M08", "blood_units", Decimal(60), "approximate", ids[TXT_NAME], 2),
        ("20245", "2024M08", "gift_packages", Decimal(120), "exact", ids[TXT_NAME], 3),
        # the structured form's 900 wins over the accepted narrative 1.085
        ("492", "2024M09", "blood_units", Decimal(900), "exact", ids[CSV_NAME], 2),
        ("492", "2024M09", "gift_packages", Decimal(350), "lower_bound", ids[DOCX_NAME], 3),
    ]
    counted = rows(
        url,
        "select submission_file_id, figure_number from audit.review_narrative_figures"
        " where is_counted order by 1, 2",
    )
    assert counted == sorted([(ids[DOCX_NAME], 3)] + [(ids[TXT_NAME], n) for n in (1, 2, 3, 4)])
    kinds = rows(
        url,
        "select source_kind, count(*) from intermediate.int_figures_deduplicated"
        " group by 1 order by 1",
    )
    assert kinds == [("narrative", 5), ("submission", 1)]


# --- rejected names, duplicates, CSV exported as text ------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason", "in_message"),
    [
        ("bao-cao-thang-9.docx", "narrative_file_name", "<unit code>-<period>-<anything>"),
        ("492-thang9-bao-cao.docx", "narrative_file_name", "492-2024M09-bao-cao.docx"),
        ("999-2024M09-bao-cao.docx", "unknown_unit", "Unit code '999'"),
        ("20245-2025M09-bao-cao.docx", "unit_not_in_period", "1 July 2025"),
        ("492-2099M01-bao-cao.docx", "future_period", "2099M01"),
        ("47-492-2024M09-bao-cao.docx", "unit_not_in_province", "492"),
    ],
)
def test_a_name_without_unit_and_period_rejects_the_file(warehouse_url, name, reason, in_message):
    folder = Path(landing.root().path)
    folder.mkdir(parents=True, exist_ok=True)
    write_docx(folder / name, DOCX_PARAGRAPHS)
    [(result, moved)] = process_landing()
    assert result.status == "rejected"
    assert result.line().startswith(f"rejected  {name}") and in_message in result.line()
    assert Path(landing.root(moved).path) == folder / landing.REJECTED / f"{result.file_id}-{name}"
    assert (folder / landing.REJECTED / f"{result.file_id}-{name}.rejections.html").is_file()
    [(status, kind, fmt)] = rows(
        warehouse_url, "select status, submission_kind, source_format from raw.submission_files"
    )
    assert (status, kind, fmt) == ("rejected", "narrative", "narrative")
    [(code, column, message_vi, message_en)] = rows(
        warehouse_url, "select reason_code, column_name, message_vi, message_en from raw.rejections"
    )
    assert (code, column) == (reason, "file_name")
    assert in_message in message_en and message_vi
    if reason == "narrative_file_name":
        assert name in message_en and name in message_vi
    assert rows(warehouse_url, "select count(*) from raw.narrative_figures") == [(0,)]


def test_unreadable_and_empty_reports_are_rejected(warehouse_url, tmp_path):
    fake = tmp_path / "492-2024M09-gia.docx"
    fake.write_bytes(b"<html>not a document</html>")
    empty = tmp_path / "492-2024M10-trong.md"
    empty.write_text("# Báo cáo tháng 10\n\nKhông có hoạt động.\n", encoding="utf-8")
    results = load.ingest_paths([fake, empty], warehouse_url)
    assert [r.status for r in results] == ["rejected", "rejected"]
    reasons = rows(warehouse_url, "select reason_code from raw.rejections order by rejection_id")
    assert reasons == [("unreadable_file",), ("no_figures",)]
    assert rows(warehouse_url, "select count(*) from raw.narrative_figures") == [(0,)]


def test_the_same_report_twice_loads_once(warehouse_url, tmp_path):
    folder = Path(landing.root().path)
    folder.mkdir(parents=True, exist_ok=True)
    write_docx(tmp_path / DOCX_NAME, DOCX_PARAGRAPHS)
    shutil.copy(tmp_path / DOCX_NAME, folder / DOCX_NAME)
    [(first, _)] = process_landing()
    shutil.copy(tmp_path / DOCX_NAME, folder / DOCX_NAME)  # sent again
    [(again, moved)] = process_landing()
    assert first.status == "loaded" and again.status == "skipped"
    assert again.file_id == first.file_id
    assert Path(landing.root(moved).path).parent.name == landing.PROCESSED
    assert rows(warehouse_url, "select count(*) from raw.submission_files") == [(1,)]
    assert rows(warehouse_url, "select count(*) from raw.narrative_figures") == [(4,)]


def test_a_csv_saved_as_text_still_loads_as_a_csv(warehouse_url, tmp_path):
    path = tmp_path / "hai-chau.txt"  # Excel's "Unicode text": UTF-16, tab-separated
    text = CSV_TEXT.replace(",", "\t")
    path.write_bytes(text.encode("utf-16"))
    [result] = load.ingest_paths([path], warehouse_url)
    assert (result.status, result.kind, result.rows_loaded) == ("loaded", "figures", 1)
    assert rows(warehouse_url, "select source_format from raw.submission_files") == [("csv",)]


# --- review decisions ---------------------------------------------------------------------


def test_decisions_are_kept_the_latest_holds_and_mistakes_exit_2(warehouse_url, tmp_path, capsys):
    path = (tmp_path / TXT_NAME).with_suffix(".md")
    path.write_text(TXT_TEXT, encoding="utf-8")
    [result] = load.ingest_paths([path], warehouse_url)
    file_id = result.file_id
    with warehouse.connect(warehouse_url) as conn:
        review.decide(conn, file_id, "rejected", [2], reviewed_by="lan")
        # the file whole: every figure not decided yet, so figure 2 stays rejected
        done = review.decide(conn, file_id, "accepted", reviewed_by="minh", note="đã đối chiếu")
        assert done.figure_numbers == [1, 3, 4]
        review.decide(conn, file_id, "accepted", [2], reviewed_by="lan")  # changed her mind
        assert review.decide(conn, file_id, "accepted").figure_numbers == []  # nothing left
        statuses = {f.figure_number: f.status for f in review.list_figures(conn, status="all")}
    assert statuses == {1: "accepted", 2: "accepted", 3: "accepted", 4: "accepted"}
    history = rows(
        warehouse_url,
        "select figure_number, decision, reviewed_by from raw.narrative_reviews order by review_id",
    )
    assert history == [
        (2, "rejected", "lan"),
        (1, "accepted", "minh"),
        (3, "accepted", "minh"),
        (4, "accepted", "minh"),
        (2, "accepted", "lan"),
    ]

    assert main(["review", "accept", "999"]) == 2
    assert "no narrative report with file id 999" in capsys.readouterr().err
    assert main(["review", "reject", str(file_id), "2", "7"]) == 2
    err = capsys.readouterr().err
    assert f"file {file_id} has no figure 7" in err and "1 to 4" in err
    assert main(["review", "list", "--file", "999"]) == 2
    assert rows(warehouse_url, "select count(*) from raw.narrative_reviews") == [(5,)]
    assert main(["review", "list", "--status", "rejected"]) == 0
    assert "không có số liệu nào / no figures" in capsys.readouterr().out
