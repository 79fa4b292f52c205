"""Tests for qa.normalize: length preservation, width folding, traditional → simplified, lower case."""

import pytest

from qa.normalize import _convert_preserving_length, normalize


@pytest.mark.parametrize("text", [
    "",
    "ＡＢＣ１２３，",
    "支付失敗了怎麼辦？",
    "ﬁnance ﬂow",  # ligatures: NFKC would make two letters
    "第ⅷ章 ①②③ ㍿",  # roman numeral, circled digits, squared word
    "支付成功 😀👍🏽 emoji",
    "İstanbul STRASSE ẞ ǅ",  # lower() of İ is two code points
    "……「引號」\u3000全角空格\t\n",
    "e\u0301 combining accent",
])
def test_length_is_preserved(text: str) -> None:
    assert len(normalize(text)) == len(text)


def test_full_width_becomes_half_width_and_lower_case() -> None:
    assert normalize("ＡＢＣ１２３，") == "abc123,"
    assert normalize("WiFi和4G") == "wifi和4g"


def test_traditional_becomes_simplified() -> None:
    normalized = normalize("支付失敗了怎麼辦")
    assert "支付失败" in normalized
    assert "怎么办" in normalized


def test_characters_that_would_grow_are_kept() -> None:
    assert normalize("ﬁⅷİ…") == "ﬁⅷİ…"


def test_offsets_on_normalized_text_index_the_original() -> None:
    original = "請問：工行數字錢包ＡＰＰ支付失敗怎麼辦？"
    normalized = normalize(original)
    start = normalized.index("支付失败")
    assert original[start:start + 4] == "支付失敗"
    start = normalized.index("app")
    assert original[start:start + 3] == "ＡＰＰ"


def test_length_changing_conversion_falls_back_to_characters() -> None:
    def expand_first(text: str) -> str:  # a converter that lengthens one character
        return text.replace("甲", "甲甲").upper()

    assert _convert_preserving_length("甲乙a", expand_first) == "甲乙A"
