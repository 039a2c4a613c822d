"""The bulk path for clean CSVs (nhandao.ingest.bulk_csv) against a real Postgres: it stores exactly
what the set-wise SQL path stores, and anything not clean goes to the SQL path with nothing of
the bulk attempt left behind."""

import logging
from pathlib import Path

import psycopg
import pytest
from conftest import rows
from test_ingest import cp1258

from nhandao import submission_format
from nhandao.ingest import bulk_csv, files, load
from nhandao.sample import generate

HEADER = ",".join(submission_format.COLUMNS)
FALLBACK = "the set-wise path reads this file"
STORED = (
    "record_number, row_number, sheet_name, source_column, reporting_unit_code,"
    " reporting_unit_name, period, indicator_code, value, qualifier, program_code, note,"
    # what the row was read as, as staging reads it (null there: as given)
    " coalesce(resolved_unit_code, reporting_unit_code),"
    " coalesce(parsed_value, cast(value as numeric)),"
    " coalesce(parsed_qualifier, nullif(qualifier, ''), 'exact')"
)
FILE_FIELDS = (
    "file_name, sha256, size_bytes, source_format, encoding, submitting_unit_code, status,"
    " submission_kind, row_count, rejected_row_count"
)


def district_month(folder: Path, district: str, year: int, month: int) -> Path:
    unit = generate.reference.admin_units()[district]
    path = folder / f"48-{district}-{year}M{month:02d}.csv"
    generate.write_csv(path, generate.district_month(1, unit, year, month))
    return path


def clean_files(folder: Path) -> list[Path]:
    """Generated district-months, plus the same shapes with a byte-order mark, quoted values
    (a note with a comma and a line break), padded cells and empty qualifiers and programs."""
    folder.mkdir()
    paths = [district_month(folder, "492", 2024, m) for m in (1, 5, 9)]
    paths.append(district_month(folder, "490", 2023, 2))
    bom = folder / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + paths[0].read_bytes().replace(b"2024M01", b"2024M02"))
    quoted = folder / "quoted.csv"
    quoted.write_text(
        f"{HEADER}\n"
        '20245,"Phường Hòa Thuận Tây",2024M03,gift_packages,350,exact,tet,"Trao quà, Tết\n'
        'nhà ""Chữ thập đỏ"""\n'
        "20245,Phường Hòa Thuận Tây,2024M03,aid_value_vnd,0120000000,,,\n"
        " 20245 ,  Phường Hòa Thuận Tây  , 2024M03 , households_supported ,7, lower_bound ,"
        " general ,   \n",
        encoding="utf-8",
    )
    return [*paths, bom, quoted]


def stored(url: str) -> tuple[list, list]:
    return (
        rows(
            url,
            f"select files.file_name, {STORED} from raw.submission_rows"
            " inner join raw.submission_files as files using (file_id)"
            " order by files.file_name, record_number",
        ),
        rows(url, f"select {FILE_FIELDS} from raw.submission_files order by file_name"),
    )


def empty_raw(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("truncate raw.submission_rows, raw.submission_files cascade")


def fallbacks(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if FALLBACK in r.getMessage()]


def test_bulk_path_stores_what_the_sql_path_stores(warehouse_url, tmp_path, caplog, monkeypatch):
    files = clean_files(tmp_path / "clean")
    caplog.set_level(logging.INFO, logger="nhandao.ingest.load")
    bulk = load.ingest_paths(files, warehouse_url)
    assert [r.status for r in bulk] == ["loaded"] * len(files)
    assert fallbacks(caplog) == []  # every one of them went the bulk way
    by_bulk = stored(warehouse_url)

    empty_raw(warehouse_url)
    monkeypatch.setattr(load, "_try_bulk", lambda conn, path, print_: None)
    by_sql = load.ingest_paths(files, warehouse_url)
    assert [r.rows_loaded for r in by_sql] == [r.rows_loaded for r in bulk]
    assert stored(warehouse_url) == by_bulk
    # what the padded and quoted rows were read as
    quoted = [row for row in by_bulk[0] if row[0] == "quoted.csv"]
    assert [(r[5], r[8], r[9], r[10], r[11], r[12], r[14], r[15]) for r in quoted] == [
        ("20245", "gift_packages", "350", "exact", "tet", 'Trao quà, Tết\nnhà "Chữ thập đỏ"', 350,
         "exact"),
        ("20245", "aid_value_vnd", "0120000000", None, "general", None, 120000000, "exact"),
        ("20245", "households_supported", "7", "lower_bound", "general", None, 7, "lower_bound"),
    ]  # fmt: skip
    assert {r[5] for r in by_bulk[1]} == {"492", "490"}  # the submitting units


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("20245,,2024M03,aid_value_vnd,1.085.000 đồng,,,", "a value is not a plain number"),
        (",Phường Hòa Thuận Tây,2024M03,gift_packages,3,,,", "no unit code"),
        ("20245,,2024M03,Gift_Packages,3,,,", "canonical spelling"),
        ("20245,,2024M03,gift_packages,3,,tết,", "program is unknown"),
        ("20245,,2099M03,gift_packages,3,,,", "in the future"),
        ("20245,,2024M13,gift_packages,3,,,", "not a period code"),
        ("99999,,2024M03,gift_packages,3,,,", "unknown one"),
        ("20245,,2024M03,blood_units,1000000000,,,", "plausible maximum"),
        ("20333,,2024M03,gift_packages,3,,,", "did not exist"),  # a commune from July 2025
    ],
)
def test_anything_not_clean_goes_the_sql_way(warehouse_url, tmp_path, caplog, line, why):
    path = tmp_path / "one.csv"
    path.write_text(
        f"{HEADER}\n20245,,2024M03,households_supported,5,,,\n{line}\n", encoding="utf-8"
    )
    caplog.set_level(logging.INFO, logger="nhandao.ingest.load")
    [result] = load.ingest_paths([path], warehouse_url)
    [message] = fallbacks(caplog)
    assert why in message
    # the SQL path then judged the file: the good row loaded, the odd one read or rejected
    loaded = rows(warehouse_url, "select count(*) from raw.submission_rows")[0][0]
    assert result.status == "loaded" and loaded == result.rows_loaded >= 1
    assert result.rows_loaded + result.rows_rejected == 2


def test_a_malformed_line_is_left_to_copy_to_name(warehouse_url, tmp_path, caplog):
    path = tmp_path / "ragged.csv"
    path.write_text(
        f"{HEADER}\n20245,,2024M03,households_supported,5,,,\n20245,,2024M03,gift_packages,3,,,,\n",
        encoding="utf-8",
    )
    caplog.set_level(logging.INFO, logger="nhandao.ingest.load")
    [result] = load.ingest_paths([path], warehouse_url)
    [message] = fallbacks(caplog)
    assert "CSV reader stopped" in message
    assert result.status == "rejected" and "line 3" in result.message
    assert rows(warehouse_url, "select count(*) from raw.submission_rows") == [(0,)]


def test_a_late_problem_leaves_nothing_of_the_bulk_attempt(
    warehouse_url, tmp_path, caplog, monkeypatch
):
    """Many batches; the last one repeats a figure of the first. The bulk attempt has already
    streamed rows into raw.submission_rows by then; all of it must be rolled back."""
    monkeypatch.setattr(bulk_csv, "BLOCK_SIZE", 4096)
    first = district_month(tmp_path, "492", 2024, 1)
    lines = first.read_text(encoding="utf-8").splitlines()
    repeated = lines[1].replace(",exact,", ",approximate,")
    path = tmp_path / "late.csv"
    path.write_text("\n".join([*lines, repeated]) + "\n", encoding="utf-8")
    caplog.set_level(logging.INFO, logger="nhandao.ingest.load")
    [result] = load.ingest_paths([path], warehouse_url)
    [message] = fallbacks(caplog)
    assert "given twice" in message
    assert (result.rows_loaded, result.rows_rejected) == (len(lines) - 1, 1)
    assert rows(
        warehouse_url,
        "select count(*), count(distinct file_id), max(record_number) from raw.submission_rows",
    ) == [(len(lines) - 1, 1, len(lines) - 1)]
    assert rows(
        warehouse_url,
        "select status, row_count, rejected_row_count from raw.submission_files",
    ) == [("loaded", len(lines) - 1, 1)]
    assert rows(warehouse_url, "select reason_code, row_number from raw.rejections") == [
        ("duplicate_row", len(lines) + 1)
    ]


# --- line endings: the same awkward files through both paths ----------------------------------

ROWS = [
    "20245,Phường Hòa Thuận Tây,2024M03,gift_packages,350,exact,tet,Tết",
    "20245,Phường Hòa Thuận Tây,2024M03,aid_value_vnd,120000000,,,",
    "492,Quận Hải Châu,2024M03,blood_units,1085,,blood_donation,Xuân hồng",
    "20245,Phường Hòa Thuận Tây,2024M03,households_supported,7,lower_bound,general,",
    "20257,Phường Hòa Cường Bắc,2024M03,gift_packages,40,,,",
]
CRLF_NOTE = '"Trao quà\r\nTết ""Chữ thập đỏ"""'


def mixed(lines: list[str], ends: tuple[str, ...] = ("\r\n", "\n"), final: bool = True) -> str:
    """The lines joined with the given line ends in turn (a file edited on two systems)."""
    text = "".join(line + ends[i % len(ends)] for i, line in enumerate(lines))
    return text if final else text.rstrip("\r\n")


def awkward_files(folder: Path) -> dict[str, Path]:
    """The same five figures written in awkward ways; a name says how."""
    folder.mkdir()
    vietnamese = [r.replace(",1085,", ",1.085,") for r in ROWS]
    noted = [ROWS[0].replace(",Tết", "," + CRLF_NOTE), *ROWS[1:]]
    texts = {
        "mixed.csv": mixed([HEADER, *ROWS]),
        "mixed-vietnamese-value.csv": mixed([HEADER, *vietnamese]),
        "crlf-in-quoted-note.csv": mixed([HEADER, *noted]),
        "no-final-newline.csv": mixed([HEADER, *ROWS], final=False),
        "lone-cr.csv": mixed([HEADER, *ROWS], ends=("\r", "\n", "\r\n")),
    }
    files = {name: folder / name for name in texts}
    for name, text in texts.items():
        files[name].write_bytes(text.encode("utf-8"))
    tab = [line.replace(",", "\t") for line in [HEADER, *ROWS]]
    for encoding in ("utf-16", "cp1258"):
        name = f"mixed-{encoding}.csv"
        lines = tab if encoding == "utf-16" else [HEADER, *ROWS]
        files[name] = folder / name
        text = mixed(lines)
        files[name].write_bytes(cp1258(text) if encoding == "cp1258" else text.encode(encoding))
    return files


def stored_rows(url: str) -> list[tuple]:
    """What raw holds for the file loaded, as staging reads it (without the file's name)."""
    return [row[1:] for row in stored(url)[0]]


# the UTF-8 files the bulk path reads whole; the others it leaves to the set-wise path
BULK_READS = {"mixed.csv", "crlf-in-quoted-note.csv", "no-final-newline.csv", "lone-cr.csv"}
AWKWARD = [
    "mixed.csv",
    "mixed-vietnamese-value.csv",
    "crlf-in-quoted-note.csv",
    "no-final-newline.csv",
    "lone-cr.csv",
    "mixed-utf-16.csv",
    "mixed-cp1258.csv",
]


@pytest.mark.parametrize("name", AWKWARD)
def test_mixed_line_endings_load_the_same_on_both_paths(
    warehouse_url, tmp_path, caplog, monkeypatch, name
):
    """Each file, first as the loader takes it (bulk if it can), then on the set-wise path
    alone: both load all five figures, and store the same rows."""
    path = awkward_files(tmp_path / "awkward")[name]
    caplog.set_level(logging.INFO, logger="nhandao.ingest.load")
    [first] = load.ingest_paths([path], warehouse_url)
    assert (first.status, first.rows_loaded, first.rows_rejected) == ("loaded", 5, 0), first
    [(encoding,)] = rows(warehouse_url, "select encoding from raw.submission_files")
    assert (not fallbacks(caplog) and encoding == "utf-8") == (name in BULK_READS)
    by_first = stored_rows(warehouse_url)

    empty_raw(warehouse_url)
    monkeypatch.setattr(load, "_try_bulk", lambda conn, path, print_: None)
    [second] = load.ingest_paths([path], warehouse_url)
    assert (second.status, second.rows_loaded, second.rows_rejected) == ("loaded", 5, 0), second
    assert stored_rows(warehouse_url) == by_first


def test_awkward_files_store_what_the_clean_file_stores(warehouse_url, tmp_path, monkeypatch):
    """Every awkward file stores, row for row, what the plain LF file stores through the bulk
    path: the same figures read the same way; a line break inside a quoted note is kept as
    written (CRLF), on both paths."""
    folder = tmp_path / "awkward"
    files = awkward_files(folder)
    plain = tmp_path / "plain.csv"
    plain.write_text(mixed([HEADER, *ROWS], ends=("\n",)), encoding="utf-8")
    load.ingest_paths([plain], warehouse_url)
    expected = stored_rows(warehouse_url)
    assert len(expected) == 5
    for take_bulk in (True, False):
        if not take_bulk:
            monkeypatch.setattr(load, "_try_bulk", lambda conn, path, print_: None)
        for name in AWKWARD:
            empty_raw(warehouse_url)
            [result] = load.ingest_paths([files[name]], warehouse_url)
            assert result.status == "loaded", (name, result.message)
            got = stored_rows(warehouse_url)
            if name == "mixed-vietnamese-value.csv":  # only the text of the value differs
                assert got[2][8] == "1.085" and got[2][13] == 1085
                got[2] = (*got[2][:8], "1085", *got[2][9:])
            if name == "crlf-in-quoted-note.csv":
                assert got[0][11] == 'Trao quà\r\nTết "Chữ thập đỏ"'
                got[0] = (*got[0][:11], "Tết", *got[0][12:])
            assert got == expected, (name, take_bulk)


def test_line_ends_are_made_unix_across_every_block_boundary():
    r"""However the file is cut into blocks (a `\r` at the end of one, its `\n` at the start of
    the next; a quote opened in one block and closed in another), the line ends outside quotes
    come out as `\n` and the quoted ones as written."""
    text = b'h1,h2\r\na,"x\r\ny ""q"" \r z"\rb,c\n"d\r\n",e\r\r\nf,g\r'
    expected = b'h1,h2\na,"x\r\ny ""q"" \r z"\nb,c\n"d\r\n",e\n\nf,g\n'
    assert b"".join(files.unix_line_ends(iter([text]))) == expected
    for cut in range(len(text) + 1):
        blocks = iter([text[:cut], text[cut:]])
        assert b"".join(files.unix_line_ends(blocks)) == expected, cut
    single_bytes = iter([text[i : i + 1] for i in range(len(text))])
    assert b"".join(files.unix_line_ends(single_bytes)) == expected


def test_small_copy_blocks_load_mixed_endings_alike(warehouse_url, tmp_path, monkeypatch):
    """The set-wise path reading a mixed-endings file in blocks of 7 bytes stores what it stores
    reading it whole."""
    path = awkward_files(tmp_path / "awkward")["crlf-in-quoted-note.csv"]
    monkeypatch.setattr(load, "_try_bulk", lambda conn, path, print_: None)
    [whole] = load.ingest_paths([path], warehouse_url)
    by_whole = stored_rows(warehouse_url)
    empty_raw(warehouse_url)
    monkeypatch.setattr(files, "COPY_CHUNK", 7)
    [small] = load.ingest_paths([path], warehouse_url)
    assert (whole.rows_loaded, small.rows_loaded) == (5, 5)
    assert stored_rows(warehouse_url) == by_whole


def test_names_on_the_set_wise_path_store_what_codes_store_on_the_bulk_path(
    warehouse_url, tmp_path, caplog
):
    """The same figures with indicators and programs given by name leave the bulk path (not
    canonical) and store, through the set-wise path, exactly the rows the codes store."""
    codes = tmp_path / "codes.csv"
    codes.write_text(mixed([HEADER, *ROWS], ends=("\n",)), encoding="utf-8")
    named = [
        ROWS[0].replace("gift_packages,350,exact,tet", "Suất quà,350,exact,Tet"),
        ROWS[1].replace("aid_value_vnd,120000000,,", "Tổng giá trị trợ giúp (đồng),120000000,,"),
        ROWS[2].replace(
            "blood_units,1085,,blood_donation", "Blood units,1085,,Hien mau tinh nguyen"
        ),
        ROWS[3].replace("households_supported", "Households supported"),
        ROWS[4].replace("gift_packages,40,,", "GIFT_PACKAGES,40,,Hoạt động thường xuyên"),
    ]
    names = tmp_path / "names.csv"
    names.write_text(mixed([HEADER, *named], ends=("\n",)), encoding="utf-8")
    caplog.set_level(logging.INFO, logger="nhandao.ingest.load")
    [by_codes] = load.ingest_paths([codes], warehouse_url)
    assert fallbacks(caplog) == []
    expected = stored_rows(warehouse_url)
    empty_raw(warehouse_url)
    [by_names] = load.ingest_paths([names], warehouse_url)
    assert "canonical spelling" in fallbacks(caplog)[0]
    assert (by_codes.rows_loaded, by_names.rows_loaded, by_names.rows_rejected) == (5, 5, 0)
    assert stored_rows(warehouse_url) == expected


def test_a_broken_line_among_mixed_endings_is_named_on_both_paths(
    warehouse_url, tmp_path, monkeypatch
):
    """A line with a field too many, in a file of mixed line endings: the file is rejected the
    same way on both paths, naming that line, not the first line end COPY did not expect."""
    path = tmp_path / "ragged.csv"
    path.write_bytes(mixed([HEADER, *ROWS[:2], ROWS[2] + ",surprise", *ROWS[3:]]).encode())
    messages = []
    for take_bulk in (True, False):
        if not take_bulk:
            monkeypatch.setattr(load, "_try_bulk", lambda conn, path, print_: None)
        [result] = load.ingest_paths([path], warehouse_url)
        assert result.status == "rejected"
        messages.append(result.message)
        empty_raw(warehouse_url)
    assert messages[0] == messages[1]
    assert "extra data after last expected column" in messages[0] and "line 4" in messages[0]
