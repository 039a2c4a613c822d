"""Vietnamese text helpers: diacritic folding and unit-name keys (in Python and in SQL)."""

from __future__ import annotations

import re
import unicodedata
from functools import cache

# Unit-type words and abbreviations that may precede a name: "Phường", "P.", "Xã", "TT." …
UNIT_PREFIX = (
    r"^\s*(thanh pho|thi tran|thi xa|phuong|quan|huyen|tinh|xa|tp|tx|tt|p|x|q|h)(\.\s*|\s+)"
)


def fold(text: str) -> str:
    """Strip Vietnamese diacritics: 'Hòa Thuận Tây' -> 'Hoa Thuan Tay' (đ/Đ become d/D)."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def unit_name_key(name: str) -> str:
    """The key unit names are matched on: 'P. Hòa Thuận Tây' and 'Hoa Thuan Tay' agree.

    Same steps as the SQL function raw.unit_name_key (see sql_unit_name_key_function).
    """
    key = fold(unicodedata.normalize("NFC", name)).lower()
    key = re.sub(UNIT_PREFIX, "", key)
    key = re.sub(r"[^a-z0-9]+", " ", key).strip()
    return re.sub(r"\b0+([0-9])", r"\1", key)


@cache
def sql_fold_map() -> tuple[str, str]:
    """Two equal-length strings for SQL translate(): Latin letters -> folded lower-case ASCII."""
    source, target = [], []
    for codepoint in [*range(0x41, 0x5B), *range(0xC0, 0x250), *range(0x1E00, 0x1F00)]:
        char = chr(codepoint)
        folded = fold(char).lower()
        if char.isalpha() and len(folded) == 1 and folded.isascii() and folded != char:
            source.append(char)
            target.append(folded)
    return "".join(source), "".join(target)


def sql_unit_name_key_function() -> str:
    """DDL of raw.unit_name_key(text), the SQL twin of unit_name_key()."""
    source, target = sql_fold_map()
    quote = "'{}'".format
    return f"""
create or replace function raw.unit_name_key(name text) returns text
language sql immutable parallel safe as $fn$
    select regexp_replace(
        trim(regexp_replace(
            regexp_replace(
                translate(normalize(name, NFC), {quote(source)}, {quote(target)}),
                {quote(UNIT_PREFIX)}, ''
            ),
            '[^a-z0-9]+', ' ', 'g'
        )),
        '\\m0+([0-9])', '\\1', 'g'
    )
$fn$;
"""


def sql_name_words(expr: str) -> str:
    """SQL for the words a code or name is matched on: Unicode form, case, diacritics and
    punctuation ignored, English plurals made singular ('Health-insurance cards', 'HEALTH
    INSURANCE CARD' -> 'health insurance card'; 'Đơn vị máu' -> 'don vi mau'). Vietnamese
    syllables never end in s, so the plural rule touches English words only."""
    source, target = sql_fold_map()
    folded = f"translate(normalize({expr}, NFC), '{source}', '{target}')"
    words = f"trim(regexp_replace({folded}, '[^a-z0-9]+', ' ', 'g'))"
    for pattern, replacement in (
        (r"ies\M", "y"),
        (r"(ss|sh|ch|x)es\M", r"\1"),
        (r"([^s])s\M", r"\1"),
    ):
        words = f"regexp_replace({words}, '{pattern}', '{replacement}', 'g')"
    return words
