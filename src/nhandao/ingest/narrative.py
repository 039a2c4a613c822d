"""Figures read out of Vietnamese narrative reports (.txt, .md, .docx): indicator, value, qualifier.

Reports say what was done in sentences: "tổ chức 2 đợt hiến máu, tiếp nhận 1.085 đơn vị máu",
"trao tặng 8.578 suất quà trị giá hơn 3 tỷ đồng". A figure is a number read the Vietnamese way
(`1.085`, `13,8 tỷ`, `1 tỷ 250 triệu`) followed by a measure word that names its indicator, an
amount of money (whose verbs tell aid given from funds raised) or a percentage of the plan. Rules
below each encode one fact of the language; numbers that are not figures of the period (dates,
document numbers, rates, plans, changes, ranks, lengths) are left out.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import unicodedata
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path

from nhandao import spreadsheet
from nhandao.ingest.excel_form import WorkbookError, check_zip_safety
from nhandao.submission_format import APPROXIMATE_WORDS, LOWER_BOUND_WORDS

TEXT_SUFFIXES = (".txt", ".md")
DOCX_SUFFIXES = (".docx",)
FIGURES_CSV_COLUMNS = [  # nhandao extract --format csv
    "indicator",
    "value",
    "qualifier",
    "text",
    "start",
    "end",
    "sentence",
    "unit_mention",
    "period_mention",
]


class UnreadableReport(ValueError):
    """The report cannot be read as text (wrong format, damaged file)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class Figure:
    indicator: str
    value: Decimal
    qualifier: str  # exact, lower_bound, approximate
    text: str  # the words of the figure, as written
    start: int  # character offsets of `text` in the report's text as read
    end: int
    sentence: str
    # The administrative unit and the period named nearest the figure (its sentence first, then
    # its paragraph, then the report above it), as written; None when the report names none.
    unit_mention: str | None
    period_mention: str | None

    def as_dict(self) -> dict:
        row = asdict(self)
        row["value"] = (
            int(self.value) if self.value == self.value.to_integral() else float(self.value)
        )
        return row


# --- Reading the text -------------------------------------------------------------------------


def read_report(path: Path) -> str:
    """The report's text: a text file decoded (UTF-8, UTF-16 or Windows-1258), or a .docx's
    paragraphs and table rows (cells separated by tabs), one per line."""
    suffix = path.suffix.lower()
    if suffix in DOCX_SUFFIXES:
        return _read_docx(path)
    if suffix not in TEXT_SUFFIXES:
        raise UnreadableReport(
            path, f"unsupported format {suffix or '(none)'}: use .txt, .md, .docx"
        )
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = data.decode("cp1258")
            except UnicodeDecodeError as exc:
                raise UnreadableReport(path, "not UTF-8, UTF-16 or Windows-1258 text") from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _read_docx(path: Path) -> str:
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from lxml.etree import XMLSyntaxError

    try:
        check_zip_safety(path)  # zip bombs and damaged archives, before python-docx opens it
        document = docx.Document(str(path))
    except WorkbookError as exc:
        raise UnreadableReport(path, exc.detail) from exc
    except (PackageNotFoundError, KeyError, ValueError, XMLSyntaxError) as exc:
        raise UnreadableReport(path, f"not a Word .docx document ({exc})") from exc
    lines = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                cells, previous = [], None
                for cell in row.cells:  # a merged cell is listed once per grid column it spans
                    if cell._tc is not previous:
                        previous = cell._tc
                        cells.append(cell.text.replace("\n", " "))
                lines.append("\t".join(cells))
        else:
            lines.append(block.text)
    return "\n".join(lines)


# Spaces that are not " " and characters that carry nothing (zero-width, markdown emphasis).
_AS_SPACE = {"\u00a0", "\u2007", "\u202f", "\u2009", "\u200a", "*"}
_DROPPED = {"\u200b", "\u200c", "\u200d", "\ufeff", "\u00ad"}


def _normalise(text: str) -> tuple[str, list[int], list[int]]:
    """NFC text with plain spaces, and where each of its characters came from.

    Word processors and Windows-1258 write Vietnamese decomposed ("e" + combining marks); the rules
    are written composed. Each output character maps back to the span of source characters it
    came from, so figures can be reported at their offsets in the text as read.
    """
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and unicodedata.combining(text[j]):
            j += 1
        cluster = text[i:j]
        if cluster in _DROPPED:
            i = j
            continue
        if cluster in _AS_SPACE:
            cluster = " "
        for ch in unicodedata.normalize("NFC", cluster):
            out.append(ch)
            starts.append(i)
            ends.append(j)
        i = j
    return "".join(out), starts, ends


# --- Numbers, qualifiers, scales --------------------------------------------------------------

# A number as Vietnamese writes it: "." groups thousands, "," marks decimals (1.085; 13,8;
# 624.845.000; 109,5). "1.5 tỷ" (an English decimal point) is read as 1,5 only before a scale
# word, where a thousands group cannot be meant. Not part of a longer token (H5N1, 93/2021).
NUMBER = re.compile(
    r"(?<![\w.,/\-–])"
    r"(\d{1,3}(?:\.\d{3})+(?:,\d+)?|\d+\.\d{1,2}(?=\s*(?:tỷ|tỉ|triệu)\b)|\d+(?:,\d+)?)"
)
# What may not touch a figure's number: letters (200m, 8cm), "/" (dates, 297/354, 93/2021/NĐ-CP),
# "-" or ":" before a digit or letter (45-CT/TW, 07:23, 2-3), more digits ("0236.3822").
# A "đ" right after the number is the currency (133.251.000đ) and may touch it, as may a scale
# word (150trđ, 3tỷ).
_GLUED = re.compile(r"(?!đ(?![^\W\d_])|tr\.?đ|tỷ|tỉ|triệu)[^\W\d_]|/|[\-–:]\s?[\w]|[.,]\d")
# Scale words multiply counts and money alike: 13,8 tỷ đồng; 1,2 triệu lượt người; 3 nghìn suất.
# "tr" is triệu abbreviated before the currency: "150 tr.đồng", "150trđ".
SCALES = {"tỷ": 10**9, "tỉ": 10**9, "triệu": 10**6, "tr": 10**6, "nghìn": 10**3, "ngàn": 10**3}
_SCALE = re.compile(r" *(?:(tỷ|tỉ|triệu|nghìn|ngàn)\b|(tr)\.?(?= *đ))")
# Money written in parts: "1 tỷ 250 triệu đồng", "350 triệu 500 nghìn đồng".
_SCALED_PART = re.compile(r" +(\d{1,3}(?:,\d+)?) *(triệu|nghìn|ngàn)\b")

# Words right before a number that say how exact it is: "hơn"/"trên" (more than: a lower bound),
# "gần"/"khoảng"/"hàng"/"ước"... (about), as in a submission; reports also write "ước tính",
# "trên dưới" and "~" (the written "about").
APPROXIMATE_IN_PROSE = ("ước tính", "ước đạt", *APPROXIMATE_WORDS, "trên dưới", "~")
QUALIFIER_BEFORE = re.compile(
    rf"(?:({'|'.join(LOWER_BOUND_WORDS)})|({'|'.join(APPROXIMATE_IN_PROSE)}))\s*$"
)
# "... 100 người trở lên" also says "at least".
AT_LEAST_AFTER = re.compile(r"\s*trở lên\b")


def _decimal(digits: str) -> Decimal:
    if re.fullmatch(r"\d+\.\d{1,2}", digits):  # English decimal before a scale word
        return Decimal(digits)
    return Decimal(digits.replace(".", "").replace(",", "."))


@dataclass
class _Quantity:
    value: Decimal
    end: int
    scaled: bool
    decimals: str  # the digits after a decimal comma ("" when there is none)


def _quantity(low: str, match: re.Match) -> _Quantity:
    digits = match.group(1)
    value, end, scaled = _decimal(digits), match.end(), False
    scale = _SCALE.match(low, end)
    if scale:
        last = SCALES[scale.group(1) or scale.group(2)]
        value, end, scaled = value * last, scale.end(), True
        while part := _SCALED_PART.match(low, end):
            if SCALES[part.group(2)] >= last:
                break
            last = SCALES[part.group(2)]
            value += _decimal(part.group(1)) * last
            end = part.end()
    decimals = digits.split(",")[1] if "," in digits else ""
    return _Quantity(value, end, scaled, decimals)


# --- What follows the number: measure words -------------------------------------------------

# Roles of measure words whose indicator depends on the sentence around them.
PERSON, VOLUNTEER, TRAINEE, HOUSEHOLD = "person", "volunteer", "trainee", "household"
BLOOD_UNIT_BARE, DRIVE_BARE, CLASS, SERVING = "blood_unit?", "drive?", "class?", "serving?"
ROLES = {PERSON, VOLUNTEER, TRAINEE, HOUSEHOLD, BLOOD_UNIT_BARE, DRIVE_BARE, CLASS, SERVING}
MONEY_INDICATORS = {"aid_value_vnd", "funds_raised_vnd"}

_W = r"(?![^\W\d_])"  # end of a word (Python's \b treats Vietnamese letters right, but be explicit)

# Measure word (right after the number) -> indicator, or a role resolved from context.
# First match wins, so longer phrases come first.
MEASURE_WORDS: list[tuple[str, str]] = [
    # gifts: suất/phần/lượt/túi quà (and the common misspelling "xuất quà"), or "quà" alone
    (r"(?:suất|xuất|phần|lượt|túi|gói|hộp|bao|thùng)\s+quà|quà", "gift_packages"),
    (r"(?:suất\s+|xuất\s+|phần\s+)?học bổng", "scholarships"),
    (r"thẻ\s+(?:bhyt|bảo hiểm)", "health_insurance_cards"),
    (r"địa chỉ", "humanitarian_addresses"),
    (r"(?:đơn vị|đv|túi|bịch)\s+máu|đvm", "blood_units"),
    (
        r"(?:đợt|buổi|ngày hội|ngày|chương trình|điểm|lần)(?:\s+(?:tổ chức|vận động|ra quân))?"
        r"\s+(?:hiến máu|lấy máu|tiếp nhận máu|hmtn)",
        "blood_drives",
    ),
    (r"(?:lượt\s+)?người\s+(?:tham gia\s+|đăng ký\s+)?hiến máu|lượt hiến máu", "blood_donors"),
    # houses: căn/ngôi nhà, nhà named for its program (chữ thập đỏ, đại đoàn kết, tình thương),
    # or "nhà" alone when nothing names another kind of house (nhà văn hóa, nhà hảo tâm...)
    (
        r"(?:căn|ngôi|mái)\s+nhà|mái ấm|nhà\s+(?:chữ thập đỏ|ctđ|đại đoàn kết|tình thương"
        r"|tình nghĩa|nhân ái|nhân đạo|an sinh|tạm|ở|mới)"
        + _W
        + r"|(?:nhà|căn|ngôi)(?=\s*(?:[,.;:)]|$|cho\b|trị giá|với\b))",
        "houses_built",
    ),
    # "suất" alone, when nothing after it names another kind (suất ăn, suất cơm): a gift, or a
    # scholarship when the item was about học bổng ("Học bổng: 35 suất")
    (r"(?:suất|xuất)(?=\s*(?:[,.;:)(]|$|cho\b|trị giá|với\b|gồm\b|tết\b|mỗi\b))", SERVING),
    (r"đơn vị", BLOOD_UNIT_BARE),
    (r"đợt(?= *(?:[,.;:)]|$|với\b|tiếp nhận\b|thu\b|và\b))", DRIVE_BARE),
    (r"lớp", CLASS),
    (r"(?:lượt\s+)?(?:tình nguyện viên|tnv)", VOLUNTEER),
    (r"học viên", TRAINEE),
    (
        r"(?:lượt\s+)?hộ(?:\s+gia đình)?|gia đình(?!\s+(?:văn hóa|văn hoá|hiến máu|tiêu biểu))",
        HOUSEHOLD,
    ),
    (
        r"lượt người|người dân|người bệnh|người|lượt đối tượng|đối tượng|lượt bệnh nhân|bệnh nhân"
        r"|trường hợp|hội viên|đoàn viên|thanh niên|cán bộ|học sinh|sinh viên|trẻ em|cá nhân"
        r"|lượt(?!\s+(?:xem|thích|chia sẻ|truy cập|đọc|bình luận|tương tác|like|share))",
        PERSON,
    ),
]
_MEASURES = [(re.compile(r" *(?:" + pattern + ")" + _W), role) for pattern, role in MEASURE_WORDS]
# People a help verb can count as beneficiaries (not học sinh, hội viên: those are named groups).
BENEFICIARY_NOUNS = re.compile(
    r"lượt người|người dân|người bệnh|người|lượt đối tượng|đối tượng|lượt bệnh nhân|bệnh nhân"
    r"|trường hợp|lượt"
)

# Money: đồng, đ, VNĐ after the amount ("đồng chí" is a comrade, not a currency).
CURRENCY = re.compile(
    r" *(?:vnđ|vnd|đồng(?!\s+(?:chí|bào|hành|thời|ý|nghiệp|đội|tâm|lòng|loạt|bộ|minh|hương"
    r"|phục|ca|cảm|thuận|đều|chủ))|đ)" + _W
)
FOREIGN_CURRENCY = re.compile(r" *(?:usd|đô la|đô-la|euro|eur|yên)" + _W)
PERCENT = re.compile(r" *(?:%|phần trăm)")
# A number before one of these units is a length, weight, area, volume or duration.
PHYSICAL_UNITS = re.compile(
    r" *(?:km|m|cm|mm|m2|m²|m3|ha|kg|g|tấn|tạ|lít|ml|giờ|phút|ngày|tháng|năm|tuổi)" + _W
)

# Amount without "đồng" but with a scale word, where the sentence says it is money.
MONEY_WORDS = re.compile(r"trị giá|giá trị|số tiền|kinh phí|tiền" + _W)

# --- What comes before the number: what kind of statement it is ---------------------------

# A rate is not a total: "20.000 đồng/tháng", "700.000đ/phần", "mỗi suất trị giá 500.000 đồng",
# "bình quân 2 triệu đồng/hộ", "5 triệu đồng một hộ".
_PER_NOUN = (
    r"(?:suất|phần|người|hộ|tháng|năm|ngày|lượt|em|cháu|gia đình|trường hợp|căn|nhà|đơn vị|ca|"
    r"học sinh|bệnh nhân|đối tượng|lần|tuần|quý|thẻ|cụ|bé)"
)
RATE_AFTER = re.compile(
    r"\s*(?:/|(?:mỗi|một|1|cho mỗi|trên mỗi|trên một)\s+" + _PER_NOUN + _W + ")"
)
RATE_BEFORE = re.compile(r"\b(?:mỗi|từng|bình quân|trung bình|mức|đơn giá|định mức)\b")
# "mỗi suất gồm 10 kg gạo, 1 thùng mì và 200.000 đồng": the item's whole description is per
# item, up to a "tổng" (total) that returns to the whole.
PER_ITEM_BEFORE = re.compile(r"\b(?:mỗi|từng)\s+" + _PER_NOUN + r"\b(?!.*\btổng\b)")
# Plans, pledges and targets are not figures of the period. A future or a goal ("phấn đấu tiếp nhận
# 5.000 đơn vị máu, vận động 2.000 suất quà", "dự kiến", "sẽ") covers its whole list; a plan noun
# ("kế hoạch năm 2021 là 3.000 suất quà", "chỉ tiêu được giao 1.000 đơn vị") its own clause.
# A past "đã" after the word ("Thực hiện kế hoạch ... Hội đã trao") makes it an achievement again.
FUTURE_WORDS = re.compile(
    r"\b(?:phấn đấu|dự kiến|dự tính|sẽ|phương hướng|tới đây|sắp tới|thời gian tới|năm tới"
    r"|đăng ký|cam kết)\b"
)
PLAN_WORDS = re.compile(r"\b(?:kế hoạch|chỉ tiêu|mục tiêu|được giao|giao chỉ tiêu)\b(?!\s+số\b)")
# An item that opens on a plan or task ("Kế hoạch năm 2024 tiếp nhận 5.000 đơn vị máu, trao
# 1.000 suất quà") is a plan throughout.
PLAN_TOPIC = re.compile(r"\W*(?:kế hoạch|chỉ tiêu|mục tiêu|nhiệm vụ|phương hướng)\b(?!\s+số\b)")
PAST_MARKER = re.compile(r"\bđã\b")
# ...but "đạt 388% kế hoạch" is an attainment, not a plan.
ATTAINMENT_BEFORE = re.compile(r"%\s*(?:so với\s+)?$")
# A change is not a total: "tăng 6.310 lượt người so với cùng kỳ", "nhiều hơn 200 đơn vị".
CHANGE_BEFORE = re.compile(
    r"\b(?:tăng|giảm|tăng thêm|giảm đi|nhiều hơn|ít hơn|cao hơn|thấp hơn|vượt|chênh lệch|gấp"
    r"|so với[^,;]*?(?:là|có|đạt))\s*$"
)
# ...nor is what a change lists before its comparison: "tăng 19.204 lượt người và 14,7 tỷ đồng
# so với cùng kỳ".
CHANGE_WORD = re.compile(r"\b(?:tăng|giảm)\b")
COMPARED_AFTER = re.compile(r"[^,;.]{0,30}?\bso (?:với|cùng)\b")
# Ranks, numbered things and references: "xếp thứ 2", "lần thứ 3", "số 132 Quan Nhân",
# "Nghị quyết 05", "Quân khu 5", "tổ 12", "khóa XIII"... ("tổng số 500 suất" is a count).
REFERENCE_BEFORE = re.compile(
    r"(?:\bthứ|\bhạng|\btop|(?<!tổng )(?<!con )\bsố|\bkhu|\btổ|\bthôn|\bấp|\bkhối|\bđội|\bkiệt"
    r"|\bhẻm|\bngõ|\bđường|\bquốc lộ|\bđiều|\bkhoản|\bchương|\bmục|\bkhóa|\bkhoá|\bnghị quyết"
    r"|\bnghị định|\bquyết định|\bthông tư|\bchỉ thị|\bcông văn|\bkết luận|\bquy định)\s*$"
)
# "từ 500.000 đến 1 triệu đồng": a range says what one gets, not how much was given.
RANGE_FROM = re.compile(r"\btừ\s*$")
RANGE_BEFORE = re.compile(r"\btừ\s+[\d.,]+\s*(?:\w+\s*){0,2}(?:đến|tới|-|–)\s*$")
RANGE_AFTER = re.compile(r"\s*(?:\w+\s*){0,3}?(?:đến|tới|-|–)\s*(?:hơn\s+|gần\s+)?\d")

# Money: the nearest verb before the amount says whose money it is; "trị giá", "giá trị",
# "với số tiền" only name a value and take the verb's side. Without a verb it is aid given.
# Money raised: quyên góp, ủng hộ, đóng góp, gây quỹ, tiếp nhận, or a fund as the object of
# vận động / huy động / thu ("vận động Quỹ Vì người nghèo được 1,2 tỷ đồng"). The fund's name is
# part of the cue, so "Quỹ Cứu trợ" does not read as aid given.
_FUND_NAME = (
    r"quỹ(?:(?!\s(?:được|đạt|là|với|trị giá|số tiền|tổng|để|cho|trao|tặng|hỗ trợ|trợ giúp|xây"
    r"|chi)\b)[^,;.\d]){0,40}"
)
RAISED_CUES = re.compile(
    r"\b(?:vận động|thu)\b[^,;.\d]{0,30}?\b"
    + _FUND_NAME
    + r"|\bquỹ\b(?:[^,;.]|\.(?!\s)){0,50}?\b(?:vận động|huy động|tiếp nhận|thu)\b(?:\s+được)?"
    + r"|\b(?:quyên góp|gây quỹ|ủng hộ|đóng góp|tiếp nhận|huy động)\b"
)
# ...or the fund named right after the amount: "500 triệu đồng ủng hộ vào Quỹ Cứu trợ",
# "1,8 tỷ đồng tiền Quỹ Ngày vì người nghèo".
RAISED_AFTER = re.compile(r"\s*(?:\S+\s+){0,3}?(?:vào|cho|ủng hộ|về|tiền)\s+quỹ\b|\s*quỹ\b")
# Aid given: trao, tặng, hỗ trợ, trợ giúp, cứu trợ, xây nhà...
AID_CUES = re.compile(
    r"\b(?:trao|tặng|hỗ trợ|trợ giúp|giúp đỡ|cứu trợ|thăm hỏi|chi(?!\s+(?:hội|bộ|đoàn))"
    r"|xây dựng|sửa chữa|khám"
    r"|cấp phát|cấp thuốc|cấp tặng)\b"
)
# Money that is neither: loans, income, salaries, budgets, investment, a fund's balance.
OTHER_MONEY_CUES = re.compile(
    r"\b(?:vay|cho vay|dư nợ|thu nhập|doanh thu|lương|lợi nhuận|ngân sách|đầu tư|thuế|nộp"
    r"|còn lại|tồn quỹ|số dư)\b"
)

# People: which group a count of people is.
# People who give blood: "1.000 người hiến máu", "250 cán bộ, đoàn viên, hội viên đăng ký tham
# gia hiến máu" (a list of groups, then the verb; not "người được tuyên truyền về hiến máu").
BLOOD_AFTER = re.compile(
    r"(?:(?!\b(?:được|về|của|với|để|cho|trong|từ)\b)[^.;:\d]){0,70}?"
    r"(?<![^\W\d_])(?:đăng ký\s+)?(?:tham gia\s+)?(?:hiến máu|cho máu)"
)
BLOOD_JOIN_AFTER = re.compile(r"\s*(?:tham gia|đăng ký|hiến)\b")
# "đơn vị" alone is a blood unit when received in a paragraph about blood ("tiếp nhận được 193
# đơn vị"); "30 đơn vị tham gia hiến máu" are organisations. "đợt" alone is a drive in an item
# about blood.
SERVING_NAMED = re.compile(r"\b(?:học bổng|quà)\b")
BLOOD_CONTEXT = re.compile(r"\bmáu\b")
BLOOD_RECEIVED_BEFORE = re.compile(r"\b(?:tiếp nhận|thu|thu được|thu về|hiến|đạt|được)\s*$")
UNITS_JOIN_AFTER = re.compile(r"\s*(?:tham gia|đăng ký|doanh nghiệp|cơ quan|trường)\b")
BLOOD_DRIVE_CONTEXT = re.compile(r"hiến máu|lấy máu|tiếp nhận máu")
FIRST_AID = re.compile(r"sơ cấp cứu|sơ cứu|\bscc\b")
TRAINING = re.compile(r"\b(?:lớp|tập huấn|huấn luyện|đào tạo|kiến thức|kỹ năng|kĩ năng)\b")
# "156 đoàn viên, thanh niên tham gia hoạt động tình nguyện", "500 đoàn viên thanh niên tình
# nguyện" are volunteers.
VOLUNTEERING_AFTER = re.compile(
    r"(?:[\s,]+[^\W\d_]+){0,4}?\s+(?:(?:tham gia|làm|là)\s+(?:các\s+|những\s+)?"
    r"(?:hoạt động|phong trào|chương trình|công tác|đợt|ngày|chiến dịch)?\s*)?"
    r"(?:tình nguyện|thiện nguyện)(?!\s*viên)"
)
# A count of people or households helped: governed by a help verb, or "được hỗ trợ" after it.
HELP_VERBS = re.compile(
    r"\b(?:hỗ trợ|trợ giúp|giúp đỡ|giúp|cứu trợ|cứu giúp|thăm hỏi|thăm|tặng|trao|cấp phát"
    r"|cấp thuốc"
    r"|khám|chăm lo|chăm sóc|phục vụ|sinh kế)\b"
)
HELPED_AFTER = re.compile(
    r"\s*(?:[^\W\d]+\s+){0,3}?(?:được\s+)?(?:hưởng lợi|thụ hưởng|thoát nghèo)\b"
    r"|\s*(?:[^\W\d]+\s+){0,3}?được\s+(?:hỗ trợ|trợ giúp|giúp đỡ|cứu trợ|khám|cấp|nhận|tặng)\b"
)
# Items given one per person: a count of people right after them ("trao 500 suất quà cho 500
# hộ") names who received them, it is not another figure.
PER_RECIPIENT_ITEMS = {"gift_packages", "scholarships", "health_insurance_cards", "houses_built"}

# Attainment: "đạt 388% kế hoạch", "bằng 109,5% chỉ tiêu"; "vượt 12% chỉ tiêu" is 112%.
PLAN_AFTER_PERCENT = re.compile(
    r"\s*(?:so với\s+|của\s+)?(?:kế hoạch|kh|chỉ tiêu|mục tiêu|nghị quyết)" + _W
)
EXCEEDED_BEFORE = re.compile(r"\bvượt\s*(?:(?:kế hoạch|chỉ tiêu)(?:\s+được giao|\s+đề ra)?\s*)?$")

# A label then its number: "Số đơn vị máu tiếp nhận: 1.200", a table row "Suất quà | 550", or
# "tổng số suất quà là 550". The label must name exactly one indicator.
LABEL_BEFORE = re.compile(
    r"(?:^|[\n;|\t])\s*[-–•+]?\s*([^\n;:|\t\d]{2,80}?)\s*[:|\t]\s*$"
    r"|\b((?:tổng\s+)?số\s+[^,;:|\t\d]{2,60}?)\s+(?:là|đạt|lên tới|lên đến)\s*$"
)
LABEL_INDICATORS: list[tuple[str, str]] = [
    (r"đơn vị máu", "blood_units"),
    (r"đợt hiến máu|buổi hiến máu", "blood_drives"),
    (r"người hiến máu", "blood_donors"),
    (r"suất quà|phần quà", "gift_packages"),
    (r"học bổng", "scholarships"),
    (r"thẻ bhyt|thẻ bảo hiểm", "health_insurance_cards"),
    (r"địa chỉ nhân đạo", "humanitarian_addresses"),
    (r"nhà (?:chữ thập đỏ|đại đoàn kết|tình thương|tình nghĩa|nhân đạo)", "houses_built"),
    (r"tình nguyện viên", "volunteers"),
    (r"hưởng lợi", "beneficiaries"),
    (r"lớp (?:tập huấn |huấn luyện )?(?:sơ cấp cứu|sơ cứu)", "first_aid_classes"),
    (r"học viên", "first_aid_trainees"),
    (r"hộ (?:được hỗ trợ )?sinh kế", "households_supported"),
    (r"giá trị (?:trợ giúp|hỗ trợ)|trị giá", "aid_value_vnd"),
    (r"vận động quỹ|quỹ", "funds_raised_vnd"),
]
_LABELS = [(re.compile(p), ind) for p, ind in LABEL_INDICATORS]
LABEL_ENDS_FIGURE = re.compile(r" *(?:[,.;)|\n\t]|$)")


# --- Where and when: the mentions a figure's sentence makes ----------------------------------

UNIT_MENTION = re.compile(
    r"\b(?:phường|xã|thị trấn|quận|huyện|thị xã|thành phố|tỉnh|tp\.|tp|tx\.|tx)\s+(?=[^\W\d_])"
)
# A unit's name: up to four capitalised words ("Hòa Thuận Tây", "Nậm Pồ").
UNIT_NAME = re.compile(r"[^\W\d_]\w*(?: [^\W\d_]\w*){0,3}")
_CAN = r"(?:canh|tân|nhâm|quý|giáp|ất|bính|đinh|mậu|kỷ)"
_CHI = r"(?:tý|tí|sửu|dần|mão|mẹo|thìn|tỵ|tị|ngọ|mùi|thân|dậu|tuất|hợi)"
PERIOD_MENTION = re.compile(
    r"\b(?:(?:6|06|9|09|sáu|chín)\s+tháng\s+(?:đầu|cuối)\s+năm(?:\s+\d{4})?"
    r"|quý\s+(?:iv|i{1,3}|[1-4])" + _W + r"(?:\s+(?:năm\s+)?\d{4})?"
    r"|tháng nhân đạo(?:\s+năm)?(?:\s+\d{4})?"
    r"|hành trình đỏ(?:\s+năm)?(?:\s+\d{4})?"
    r"|(?:tết|xuân)(?:\s+nguyên đán)?\s+" + _CAN + r"\s+" + _CHI + r"(?:\s+\d{4})?"
    r"|tháng\s+\d{1,2}(?:/\d{4}|\s+năm\s+\d{4})"
    r"|(?:giai đoạn|nhiệm kỳ|năm học)\s+\d{4}\s*[-–]\s*\d{4}"
    r"|năm\s+(?:19|20)\d{2}" + _W + ")"
)


COMPARISON_BEFORE = re.compile(r"so với\s*(?:cùng kỳ\s*)?$")


# --- The extractor ----------------------------------------------------------------------------


@dataclass
class _Sentence:
    start: int
    end: int
    paragraph_start: int


# A sentence ends at . ! ? … before a capital letter (or a digit, a quote, a bullet), or at a line
# break. "TP. Đà Nẵng", "P. Hòa Cường": a dot after these abbreviations ends nothing.
_SENTENCE_END = re.compile(r"[.!?…]+[\"”’)]*(?=\s+[\"“‘(\-–•]*(\w))|\n+")
_ABBREVIATION = re.compile(r"(?<![^\W\d_])(?:tp|tx|tt|p|q|h|x|ts|ths|bs|pgs|gs|ks|ls|ông|bà)$")


MAX_SENTENCE = 2000  # a longer "sentence" (a line without stops) is cut at a space before this


def _sentences(work: str) -> list[_Sentence]:
    """Sentence spans of the working text (which keeps its capitals for this)."""
    spans, start, paragraph = [], 0, 0
    for match in _SENTENCE_END.finditer(work):
        if match.group(1) and match.group(1).islower():
            continue
        if match.group()[0] in ".…" and _ABBREVIATION.search(work[start : match.start()].lower()):
            continue
        spans.append((start, match.end(), paragraph))
        start = match.end()
        if "\n" in match.group():
            paragraph = start
    if start < len(work):
        spans.append((start, len(work), paragraph))
    sentences = []
    for start, end, paragraph in spans:
        while end - start > MAX_SENTENCE:
            cut = work.rfind(" ", start + MAX_SENTENCE // 2, start + MAX_SENTENCE)
            cut = cut + 1 if cut > 0 else start + MAX_SENTENCE
            sentences.append(_Sentence(start, cut, paragraph))
            start = cut
        sentences.append(_Sentence(start, end, paragraph))
    return sentences


# Clause boundaries: ; : ( ) and a comma that is not a decimal comma. A ";"-segment is one item
# of a list of achievements ("trợ giúp 420 địa chỉ; tổ chức 2 đợt hiến máu, tiếp nhận ...").
_CLAUSE_BREAK = re.compile(r"[;:()\[\]\n]|,(?!\d)|\s[–—-]\s")
_SEGMENT_BREAK = re.compile(r"[;\n]")


def _tail_after(pattern: re.Pattern, text: str) -> str:
    """The part of `text` after the last match of `pattern` (all of it when there is none)."""
    last = None
    for last in pattern.finditer(text):  # noqa: B007
        pass
    return text[last.end() :] if last else text


@dataclass
class _Context:
    """What surrounds a number: the sentence, and the text before it up to the sentence start
    (`left`, at most LEFT_WINDOW characters), the last ";"-item (`segment`) and the last clause
    (`clause`)."""

    sentence: _Sentence
    left: str
    segment: str
    clause: str
    left_end: int  # where `left` ends in the working text

    @property
    def segment_start(self) -> int:
        return self.left_end - len(self.segment)


LEFT_WINDOW = 400  # what a number's sentence says before it, at most (long lines stay linear)


class _Reader:
    """Reads one report's figures, left to right."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.work, self.starts, self.ends = _normalise(text)
        self.low = _lower(self.work)
        self.context = _mask_names(self.low)
        self.figures: list[Figure] = []
        self.found: list[tuple[int, str]] = []  # (position in the working text, indicator)

    def read(self) -> list[Figure]:
        for sentence in _sentences(self.work):
            position = sentence.start
            while match := NUMBER.search(self.low, position, sentence.end):
                position = self._read_number(sentence, match)
        return self.figures

    def _read_number(self, sentence: _Sentence, match: re.Match) -> int:
        """Read the figure at one number, if it is one; return where to continue."""
        low = self.low
        if _GLUED.match(low, match.end(), sentence.end):
            return match.end()
        quantity = _quantity(low, match)
        left = self.context[max(sentence.start, match.start() - LEFT_WINDOW) : match.start()]
        qualifier, begin = "exact", match.start()
        if said := QUALIFIER_BEFORE.search(left):
            qualifier = "lower_bound" if said.group(1) else "approximate"
            begin = match.start() - len(left) + said.start()
            left = left[: said.start()]
        segment, clause = _tail_after(_SEGMENT_BREAK, left), _tail_after(_CLAUSE_BREAK, left)
        context = _Context(sentence, left, segment, clause, begin)
        found = self._classify(context, quantity)
        if found is None:
            return quantity.end
        indicator, value, end = found
        right = self.context[end : sentence.end]
        if AT_LEAST_AFTER.match(right) and qualifier == "exact":
            qualifier = "lower_bound"
        if _of_the_period(indicator, context, right):
            self._emit(sentence, indicator, value, qualifier, begin, end)
        return end

    def _classify(self, context: _Context, quantity: _Quantity) -> tuple[str, Decimal, int] | None:
        """The figure's indicator, value and end, or None when the number is no figure."""
        low, end, stop = self.low, quantity.end, context.sentence.end
        if REFERENCE_BEFORE.search(context.left) or FOREIGN_CURRENCY.match(low, end, stop):
            return None
        if percent := PERCENT.match(low, end, stop):
            return _attainment(low, quantity, context, percent.end())
        if currency := CURRENCY.match(low, end, stop):
            return _money(self.context, quantity, context, currency.end())
        for pattern, role in _MEASURES:
            if measure := pattern.match(low, end, stop):
                indicator = self._resolve(role, context, measure)
                value = _count_value(quantity)
                if indicator is None or value is None:
                    return None
                return indicator, value, measure.end()
        if PHYSICAL_UNITS.match(low, end, stop):  # after "3 ngày hội hiến máu" had its chance
            return None
        if quantity.scaled and MONEY_WORDS.search(context.clause):  # "trị giá hơn 120 triệu"
            return _money(self.context, quantity, context, end)
        if LABEL_ENDS_FIGURE.match(low, end, stop) and (label := LABEL_BEFORE.search(context.left)):
            return _labelled(quantity, label.group(1) or label.group(2))
        return None

    def _resolve(self, role: str, context: _Context, measure: re.Match) -> str | None:
        """The indicator of a measure word, reading the sentence when the word alone can't say."""
        if role not in ROLES:
            return role
        segment = context.segment
        right = self.context[measure.end() : context.sentence.end]
        right_clause = re.split(r"[;.]", right, maxsplit=1)[0]
        if role == BLOOD_UNIT_BARE:
            return self._blood_units(context, right)
        if role == SERVING:
            named = [m.group() for m in SERVING_NAMED.finditer(segment)]
            return "scholarships" if named and named[-1] == "học bổng" else "gift_packages"
        if role == DRIVE_BARE:
            return "blood_drives" if BLOOD_CONTEXT.search(segment + right_clause) else None
        if role == CLASS:
            return "first_aid_classes" if FIRST_AID.search(right_clause[:50]) else None
        if role == HOUSEHOLD:
            return "households_supported" if self._helped(context, right) else None
        return self._people(role, context, measure, right, right_clause)

    def _blood_units(self, context: _Context, right: str) -> str | None:
        """ "tiếp nhận 1.085 đơn vị" in an item on blood; not "30 đơn vị tham gia hiến máu"."""
        receives = BLOOD_RECEIVED_BEFORE.search(context.left)
        paragraph_start = max(context.sentence.paragraph_start, context.left_end - 2000)
        paragraph = self.context[paragraph_start : context.sentence.end]
        blood = BLOOD_CONTEXT.search(paragraph)
        return "blood_units" if receives and blood and not UNITS_JOIN_AFTER.match(right) else None

    def _people(
        self, role: str, context: _Context, measure: re.Match, right: str, right_clause: str
    ) -> str | None:
        """People: blood donors, first-aid trainees, volunteers or beneficiaries."""
        segment = context.segment
        if BLOOD_AFTER.match(right) or (
            BLOOD_JOIN_AFTER.match(right) and BLOOD_DRIVE_CONTEXT.search(segment)
        ):
            return "blood_donors"
        trained = bool(FIRST_AID.search(segment) and TRAINING.search(segment))
        if role == TRAINEE:
            return "first_aid_trainees" if trained or FIRST_AID.search(right_clause) else None
        if trained:
            return "first_aid_trainees"
        if role == VOLUNTEER or VOLUNTEERING_AFTER.match(right):
            return "volunteers"
        noun = measure.group().strip()
        if BENEFICIARY_NOUNS.fullmatch(noun) and self._helped(context, right):
            return "beneficiaries"
        return None

    def _helped(self, context: _Context, right: str) -> bool:
        """People or households a help verb governs ("hỗ trợ sinh kế cho 20 hộ"), or that
        "được hỗ trợ" follows. After items given one per recipient ("trao 500 suất quà cho 500
        hộ") the count names who received them: it is not another figure."""
        if HELPED_AFTER.match(right):
            return True
        verbs = list(HELP_VERBS.finditer(context.segment))
        if not verbs:
            return False
        verb_at = context.segment_start + verbs[-1].end()
        return not any(at > verb_at and ind in PER_RECIPIENT_ITEMS for at, ind in self.found)

    def _emit(
        self,
        sentence: _Sentence,
        indicator: str,
        value: Decimal,
        qualifier: str,
        begin: int,
        end: int,
    ) -> None:
        start, stop = self.starts[begin], self.ends[end - 1]
        value = value.quantize(Decimal(1)) if value == value.to_integral() else value.normalize()
        self.found.append((begin, indicator))
        self.figures.append(
            Figure(
                indicator=indicator,
                value=value,
                qualifier=qualifier,
                text=self.text[start:stop],
                start=start,
                end=stop,
                sentence=self.text[
                    self.starts[sentence.start] : self.ends[sentence.end - 1]
                ].strip(),
                unit_mention=self._mention(self.unit_spans, sentence, begin),
                period_mention=self._mention(self.period_spans, sentence, begin),
            )
        )

    def _mention(self, spans: list[tuple[int, int]], sentence: _Sentence, at: int) -> str | None:
        """The mention nearest before the figure in its paragraph, else the first after it in
        its sentence, else the last one earlier in the report (its title, say)."""
        earlier = [span for span in spans if span[0] < at]
        later = [span for span in spans if at <= span[0] < sentence.end]
        if earlier and earlier[-1][0] >= sentence.paragraph_start:
            span = earlier[-1]
        elif later:
            span = later[0]
        elif earlier:
            span = earlier[-1]
        else:
            return None
        return self.text[self.starts[span[0]] : self.ends[span[1] - 1]]

    @functools.cached_property
    def period_spans(self) -> list[tuple[int, int]]:
        """Periods the report names. "so với năm 2019" is a comparison, not a period of its own."""
        return [
            m.span()
            for m in PERIOD_MENTION.finditer(self.low)
            if not COMPARISON_BEFORE.search(self.low, max(0, m.start() - 12), m.start())
        ]

    @functools.cached_property
    def unit_spans(self) -> list[tuple[int, int]]:
        """Administrative units the report names: a type word ("phường", "quận") and a
        capitalised name ("Hòa Thuận Tây")."""
        spans = []
        for m in UNIT_MENTION.finditer(self.low):
            words = UNIT_NAME.match(self.work, m.end()).group().split(" ")
            capitalised = list(itertools.takewhile(lambda word: word[0].isupper(), words))
            if capitalised:
                spans.append((m.start(), m.end() + len(" ".join(capitalised))))
        return spans


# A short quoted phrase without figures is a name: of a campaign ("Mỗi tổ chức, mỗi cá nhân gắn
# với một địa chỉ nhân đạo"), a fund ("Vì người nghèo"), a movement. Its words say nothing about
# the figures around it ("mỗi" there is no rate), so they are blanked out of the context.
QUOTED_NAME = re.compile(r"[“\"«‘][^“”\"«»‘’\n\d]{1,90}[”\"»’]")


def _mask_names(low: str) -> str:
    return QUOTED_NAME.sub(lambda m: " " * len(m.group()), low)


def _lower(work: str) -> str:
    """Lower case, one character for one (so offsets stay valid)."""
    return "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in work)


def _count_value(quantity: _Quantity) -> Decimal | None:
    """Counts are whole: "1,085 đơn vị" can only be 1.085 written with an English comma."""
    value = quantity.value
    if value == value.to_integral():
        return value
    if not quantity.scaled and len(quantity.decimals) == 3:
        return value * 1000
    return None


def _attainment(
    low: str, quantity: _Quantity, context: _Context, end: int
) -> tuple[str, Decimal, int] | None:
    """A percentage of the plan or target: "đạt 388% kế hoạch"; "vượt 12% chỉ tiêu" is 112%."""
    plan = PLAN_AFTER_PERCENT.match(low, end, context.sentence.end)
    if not plan:
        return None
    if EXCEEDED_BEFORE.search(context.left):
        return "target_attainment_pct", quantity.value + 100, plan.end()
    if CHANGE_BEFORE.search(context.left):
        return None
    return "target_attainment_pct", quantity.value, plan.end()


def _money(
    low: str, quantity: _Quantity, context: _Context, end: int
) -> tuple[str, Decimal, int] | None:
    """An amount in đồng: aid given or funds raised, by the nearest verb before it."""
    right = low[end : context.sentence.end]
    if RATE_AFTER.match(right) or RATE_BEFORE.search(context.clause):
        return None
    if PER_ITEM_BEFORE.search(context.segment):
        return None
    # The nearest cue in the item, else in the sentence ("..., trong đó cấp tỉnh hơn 4 tỷ đồng"
    # continues what the sentence said the money was).
    kind = _money_cue(context.segment) or _money_cue(context.left) or "aid_value_vnd"
    if RAISED_AFTER.match(right):
        kind = "funds_raised_vnd"
    if kind not in MONEY_INDICATORS or quantity.value != quantity.value.to_integral():
        return None
    return kind, quantity.value, end


def _money_cue(text: str) -> str | None:
    """The kind of money the last cue in `text` names: aid_value_vnd, funds_raised_vnd or
    "other" (loans, income...); None when there is no cue."""
    cues = [(m.end(), "funds_raised_vnd") for m in RAISED_CUES.finditer(text)]
    masked = RAISED_CUES.sub(lambda m: " " * len(m.group()), text)
    cues += [(m.end(), "aid_value_vnd") for m in AID_CUES.finditer(masked)]
    cues += [(m.end(), "other") for m in OTHER_MONEY_CUES.finditer(masked)]
    return max(cues)[1] if cues else None


def _labelled(quantity: _Quantity, label: str) -> tuple[str, Decimal, int] | None:
    """A number after a label that names one indicator: "Số đơn vị máu tiếp nhận: 1.200"."""
    named = {indicator for pattern, indicator in _LABELS if pattern.search(label)}
    if len(named) != 1:
        return None
    (indicator,) = named
    if indicator in MONEY_INDICATORS:
        return (indicator, quantity.value, quantity.end) if quantity.scaled else None
    value = _count_value(quantity)
    return (indicator, value, quantity.end) if value is not None else None


def _of_the_period(indicator: str, context: _Context, right: str) -> bool:
    """Changes, ranges, rates and plans are not figures of the period."""
    left, clause = context.left, context.clause
    if indicator != "target_attainment_pct" and (
        CHANGE_BEFORE.search(left) or (CHANGE_WORD.search(clause) and COMPARED_AFTER.match(right))
    ):
        return False
    if RANGE_BEFORE.search(left) or (RANGE_FROM.search(left) and RANGE_AFTER.match(right)):
        return False
    if RATE_BEFORE.search(clause) or RATE_AFTER.match(right):
        return False
    if PER_ITEM_BEFORE.search(context.segment):
        return False
    future = FUTURE_WORDS.search(context.segment) or PLAN_TOPIC.match(context.segment)
    if future and not PAST_MARKER.search(context.segment[future.end() :]):
        return False
    plans = [
        m for m in PLAN_WORDS.finditer(clause) if not ATTAINMENT_BEFORE.search(clause[: m.start()])
    ]
    return not plans or bool(PAST_MARKER.search(clause[plans[-1].end() :]))


# --- Public API -------------------------------------------------------------------------------


def extract_figures(text: str) -> list[Figure]:
    """Every figure in a report's text, in the order written."""
    return _Reader(text).read()


def extract_file(path: Path) -> list[Figure]:
    """Every figure in a report file (.txt, .md, .docx)."""
    return extract_figures(read_report(path))


def figures_json(figures: list[Figure]) -> str:
    """{"figures": [...]} with values as plain numbers (đồng for money)."""
    return json.dumps({"figures": [f.as_dict() for f in figures]}, ensure_ascii=False, indent=2)


def figures_csv(figures: list[Figure]) -> str:
    """One row per figure; text cells cannot run as spreadsheet formulas."""
    rows = (figure.as_dict() for figure in figures)
    return spreadsheet.csv_text(
        FIGURES_CSV_COLUMNS, ([row[column] for column in FIGURES_CSV_COLUMNS] for row in rows)
    )
