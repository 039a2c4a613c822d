"""Figures read out of Vietnamese narrative reports: the annotated reports, tricky sentences,
.docx files and the `nhandao extract` command. No database."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import unicodedata
from decimal import Decimal
from pathlib import Path

import docx
import pytest
from test_ingest import cp1258

from nhandao.cli import main
from nhandao.ingest.narrative import extract_figures, extract_file, read_report

# A copy of the workplace's shared/reports and shared/tools/score_extraction.py (see its README)
REPORTS = Path(__file__).resolve().parent / "data" / "narrative_reports"


def _scorer():
    """The scorer the project is judged with, imported from its file."""
    spec = importlib.util.spec_from_file_location(
        "score_extraction", REPORTS / "score_extraction.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_annotated_reports_score_at_least_95_percent():
    score_one = _scorer().score_one
    required = hit = false = right_qualifier = 0
    golds = sorted(REPORTS.glob("*.gold.json"))
    assert golds, f"no annotated reports in {REPORTS}"
    for gold_path in golds:
        gold = json.loads(gold_path.read_text(encoding="utf-8"))
        figures = [f.as_dict() for f in extract_file(REPORTS / gold["source"])]
        hits, qualifiers, false_positives, missed = score_one(gold, figures)
        required += len(gold["required"])
        hit += len(hits)
        false += len(false_positives)
        right_qualifier += qualifiers
    recall, precision = hit / required, hit / (hit + false)
    assert recall >= 0.95, recall
    assert precision >= 0.95, precision
    assert right_qualifier / hit >= 0.95


def test_offsets_point_at_the_figure_in_the_text_as_read():
    for path in sorted(REPORTS.glob("*.txt")):
        text = read_report(path)
        for figure in extract_file(path):
            assert text[figure.start : figure.end] == figure.text
            assert figure.text in figure.sentence


def _read(sentence: str) -> list[tuple[str, Decimal, str, str]]:
    return [(f.indicator, f.value, f.qualifier, f.text) for f in extract_figures(sentence)]


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        # several figures in one sentence; "trị giá hơn" is a lower bound; tỷ scales money
        (
            "Năm 2023 tổ chức 2 đợt hiến máu, tiếp nhận 1.085 đơn vị máu; trao tặng 8.578 suất "
            "quà trị giá hơn 3 tỷ đồng.",
            [
                ("blood_drives", 2, "exact", "2 đợt hiến máu"),
                ("blood_units", 1085, "exact", "1.085 đơn vị máu"),
                ("gift_packages", 8578, "exact", "8.578 suất quà"),
                ("aid_value_vnd", 3_000_000_000, "lower_bound", "hơn 3 tỷ đồng"),
            ],
        ),
        # rates are not totals; a year and a document number are not figures
        (
            "Theo Nghị quyết số 12/NQ-HCTĐ năm 2021, mỗi hội viên tiết kiệm 20.000 đồng/tháng,"
            " mỗi suất quà trị giá 700.000đ/phần.",
            [],
        ),
        # a per-item description stays per item until a total returns to the whole
        (
            "Trao 120 suất quà (mỗi suất gồm 10 kg gạo, 1 thùng mì và 300.000 đồng tiền mặt),"
            " tổng trị giá 60 triệu đồng.",
            [
                ("gift_packages", 120, "exact", "120 suất quà"),
                ("aid_value_vnd", 60_000_000, "exact", "60 triệu đồng"),
            ],
        ),
        # amounts after "với số tiền", each with its own items
        (
            "Tặng 200 suất quà với số tiền 100 triệu đồng và 50 thẻ BHYT với số tiền 35,5 triệu"
            " đồng.",
            [
                ("gift_packages", 200, "exact", "200 suất quà"),
                ("aid_value_vnd", 100_000_000, "exact", "100 triệu đồng"),
                ("health_insurance_cards", 50, "exact", "50 thẻ BHYT"),
                ("aid_value_vnd", 35_500_000, "exact", "35,5 triệu đồng"),
            ],
        ),
        # money written in parts, and in đồng with thousands dots or a glued "đ"
        (
            "Tổng giá trị trợ giúp đạt 1 tỷ 250 triệu đồng, trong đó chi 624.845.000 đồng và"
            " 133.251.000đ tiền mặt.",
            [
                ("aid_value_vnd", 1_250_000_000, "exact", "1 tỷ 250 triệu đồng"),
                ("aid_value_vnd", 624_845_000, "exact", "624.845.000 đồng"),
                ("aid_value_vnd", 133_251_000, "exact", "133.251.000đ"),
            ],
        ),
        # triệu abbreviated before the currency, scale words glued to the number
        (
            "Trao 20 suất quà trị giá 15 tr.đồng; hỗ trợ 3tỷ đồng.",
            [
                ("gift_packages", 20, "exact", "20 suất quà"),
                ("aid_value_vnd", 15_000_000, "exact", "15 tr.đồng"),
                ("aid_value_vnd", 3_000_000_000, "exact", "3tỷ đồng"),
            ],
        ),
        # hơn / trên / gần / khoảng / hàng; triệu scales counts; decimals with a comma
        (
            "Các cấp Hội trợ giúp trên 1,2 triệu lượt người với tổng trị giá khoảng 13,8 tỷ"
            " đồng, gần 700 tình nguyện viên và hàng 100 hộ được hỗ trợ sinh kế.",
            [
                ("beneficiaries", 1_200_000, "lower_bound", "trên 1,2 triệu lượt người"),
                ("aid_value_vnd", 13_800_000_000, "approximate", "khoảng 13,8 tỷ đồng"),
                ("volunteers", 700, "approximate", "gần 700 tình nguyện viên"),
                ("households_supported", 100, "approximate", "hàng 100 hộ"),
            ],
        ),
        # money raised (a fund as the object of vận động, quyên góp) and given (trao)
        (
            'Hội vận động Quỹ "Vì người nghèo" được 1,5 tỷ đồng; các nhà hảo tâm quyên góp 320'
            " triệu đồng; từ nguồn quỹ, Hội trao 12 nhà đại đoàn kết trị giá 600 triệu đồng.",
            [
                ("funds_raised_vnd", 1_500_000_000, "exact", "1,5 tỷ đồng"),
                ("funds_raised_vnd", 320_000_000, "exact", "320 triệu đồng"),
                ("houses_built", 12, "exact", "12 nhà đại đoàn kết"),
                ("aid_value_vnd", 600_000_000, "exact", "600 triệu đồng"),
            ],
        ),
        (
            "Tiếp nhận 500 triệu đồng ủng hộ vào Quỹ Cứu trợ của tỉnh.",
            [("funds_raised_vnd", 500_000_000, "exact", "500 triệu đồng")],
        ),
        # plans, changes, ratios and ranks are not figures of the period
        (
            "Năm 2024, Hội phấn đấu tiếp nhận 15.000 đơn vị máu, vận động 2.000 suất quà.",
            [],
        ),
        (
            "Số người hiến máu tăng 6.310 lượt người so với cùng kỳ, gấp 1,8 lần năm 2019; huyện"
            " xếp thứ 2 trong 15 huyện.",
            [],
        ),
        # attainment: "đạt N% kế hoạch"; "vượt 12% chỉ tiêu" is 112%; "so với năm" is growth
        (
            "Tiếp nhận 9.898 đơn vị máu, đạt 109,5% kế hoạch, vượt 12% chỉ tiêu thành phố giao,"
            " bằng 120% so với năm 2022.",
            [
                ("blood_units", 9898, "exact", "9.898 đơn vị máu"),
                ("target_attainment_pct", Decimal("109.5"), "exact", "109,5% kế hoạch"),
                ("target_attainment_pct", 112, "exact", "12% chỉ tiêu"),
            ],
        ),
        # first aid: classes, and the people trained in them
        (
            "Tổ chức 13 lớp huấn luyện sơ cấp cứu cho gần 700 hội viên, tình nguyện viên.",
            [
                ("first_aid_classes", 13, "exact", "13 lớp"),
                ("first_aid_trainees", 700, "approximate", "gần 700 hội viên"),
            ],
        ),
        # teams are not volunteers; people who take part in volunteering are
        (
            "Quận có 16 đội tình nguyện viên với 274 tình nguyện viên; huyện đoàn huy động 156"
            " đoàn viên, thanh niên tham gia hoạt động tình nguyện.",
            [
                ("volunteers", 274, "exact", "274 tình nguyện viên"),
                ("volunteers", 156, "exact", "156 đoàn viên"),
            ],
        ),
        # donors; "đơn vị" alone received in a paragraph on blood; organisations are not units
        (
            "Có 30 đơn vị tham gia, 250 cán bộ, hội viên đăng ký tham gia hiến máu. Kết quả"
            " tiếp nhận được 193 đơn vị.",
            [
                ("blood_donors", 250, "exact", "250 cán bộ"),
                ("blood_units", 193, "exact", "193 đơn vị"),
            ],
        ),
        # households helped by a verb; recipients of counted gifts are not a second figure
        (
            "Hỗ trợ sinh kế cho 20 hộ gia đình, mỗi hộ 1 con bò trị giá 15 triệu đồng; trao 500"
            " suất quà cho 500 hộ nghèo.",
            [
                ("households_supported", 20, "exact", "20 hộ gia đình"),
                ("gift_packages", 500, "exact", "500 suất quà"),
            ],
        ),
        # leading zeros; dates, times, lengths, ages and view counts are not figures
        (
            "07:23 - Thứ Bảy, 26/11/2022 Lượt xem: 5033. Ngày 2/9, bà B (65 tuổi) nhận 02 căn"
            " nhà; con đường dài gần 200m, rộng 1,2m.",
            [("houses_built", 2, "exact", "02 căn nhà")],
        ),
        # a quoted campaign name says nothing about the figure ("mỗi" there is no rate)
        (
            "Cuộc vận động “Mỗi tổ chức, mỗi cá nhân gắn với một địa chỉ nhân đạo” đã trợ giúp"
            " 420 địa chỉ nhân đạo.",
            [("humanitarian_addresses", 420, "exact", "420 địa chỉ")],
        ),
        # a label then its number
        (
            "- Số đơn vị máu tiếp nhận: 1.200\n- Học bổng: 35 suất",
            [
                ("blood_units", 1200, "exact", "1.200"),
                ("scholarships", 35, "exact", "35 suất"),
            ],
        ),
    ],
)
def test_tricky_sentences(sentence, expected):
    assert _read(sentence) == [(i, Decimal(v), q, t) for i, v, q, t in expected]


def test_mentions_of_unit_and_period():
    (figure,) = extract_figures(
        "Tính riêng tại phường Bình Hiên, năm 2019 vận động 34 địa chỉ nhân đạo, so với năm 2018."
    )
    assert figure.unit_mention == "phường Bình Hiên"
    assert figure.period_mention == "năm 2019"


def test_decomposed_text_keeps_offsets_into_the_text_as_read():
    text = unicodedata.normalize(
        "NFD", "Xuân Kỷ Hợi 2019 trao tặng 8.578 suất quà trị giá hơn 3 tỷ"
    )
    figures = extract_figures(text)
    assert [(f.indicator, f.value) for f in figures] == [
        ("gift_packages", 8578),
        ("aid_value_vnd", 3_000_000_000),
    ]
    for figure in figures:
        assert text[figure.start : figure.end] == figure.text
    assert unicodedata.normalize("NFC", figures[0].text) == "8.578 suất quà"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "cp1258"])
def test_text_files_in_the_encodings_districts_use(tmp_path, encoding):
    path = tmp_path / "report.txt"
    text = "Năm 2019, trao tặng 8.578 suất quà.\r\nTiếp nhận 1.085 đơn vị máu."
    path.write_bytes(cp1258(text) if encoding == "cp1258" else text.encode(encoding))
    assert [(f.indicator, f.value) for f in extract_file(path)] == [
        ("gift_packages", 8578),
        ("blood_units", 1085),
    ]


def _docx(path: Path) -> Path:
    document = docx.Document()
    document.add_paragraph("Báo cáo 6 tháng đầu năm 2024 của Hội Chữ thập đỏ huyện Hòa Vang")
    document.add_paragraph("Hội đã tiếp nhận 1.085 đơn vị máu, trao 550 suất quà.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Thẻ BHYT"
    table.cell(0, 1).text = "300"
    table.cell(1, 0).text = "Kế hoạch năm sau"
    table.cell(1, 1).text = "5.000 đơn vị máu"
    document.add_paragraph("=1+1 Hội trao 20 suất học bổng.")
    document.save(path)
    return path


def test_docx_paragraphs_and_tables(tmp_path):
    path = _docx(tmp_path / "bao-cao.docx")
    text = read_report(path)
    figures = extract_file(path)
    assert [(f.indicator, f.value, f.text) for f in figures] == [
        ("blood_units", 1085, "1.085 đơn vị máu"),
        ("gift_packages", 550, "550 suất quà"),
        ("health_insurance_cards", 300, "300"),
        ("scholarships", 20, "20 suất học bổng"),
    ]
    assert all(text[f.start : f.end] == f.text for f in figures)
    assert figures[0].unit_mention == "huyện Hòa Vang"
    assert figures[0].period_mention == "6 tháng đầu năm 2024"


def test_cli_json(tmp_path, capsys):
    report = tmp_path / "report.md"
    report.write_text("Năm 2020, toàn quận đạt gần 24 tỷ đồng, đạt 388% kế hoạch.\n", "utf-8")
    assert main(["extract", str(report)]) == 0
    figures = json.loads(capsys.readouterr().out)["figures"]
    assert [(f["indicator"], f["value"], f["qualifier"]) for f in figures] == [
        ("aid_value_vnd", 24_000_000_000, "approximate"),
        ("target_attainment_pct", 388, "exact"),
    ]
    assert set(figures[0]) == {
        "indicator",
        "value",
        "qualifier",
        "text",
        "start",
        "end",
        "sentence",
        "unit_mention",
        "period_mention",
    }
    assert figures[0]["period_mention"] == "Năm 2020"


def test_cli_csv_neutralises_formulas(tmp_path, capsys):
    path = _docx(tmp_path / "bao-cao.docx")
    assert main(["extract", "--format", "csv", str(path)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["indicator"], r["value"]) for r in rows] == [
        ("blood_units", "1085"),
        ("gift_packages", "550"),
        ("health_insurance_cards", "300"),
        ("scholarships", "20"),
    ]
    assert rows[-1]["sentence"] == "'=1+1 Hội trao 20 suất học bổng."
    assert rows[0]["start"] == str(extract_file(path)[0].start)


def test_cli_refuses_what_it_cannot_read(tmp_path, capsys):
    assert main(["extract", str(tmp_path / "missing.txt")]) == 2
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    assert main(["extract", str(pdf)]) == 2
    fake = tmp_path / "report.docx"
    fake.write_text("not a zip", encoding="utf-8")
    assert main(["extract", str(fake)]) == 2
    assert "nhandao extract:" in capsys.readouterr().err
