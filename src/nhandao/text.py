"""Vietnamese text helpers: diacritic folding and name normalisation."""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """Strip Vietnamese diacritics: 'Hòa Thuận Tây' -> 'Hoa Thuan Tay' (đ/Đ become d/D)."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
