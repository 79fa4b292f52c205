"""Tests for qa.tokens: jieba search-mode tokens, stopword filtering and offsets on the original text."""

from qa.tokens import STOPWORDS, term_spans, tokenize


def test_question_keeps_content_words_and_drops_fillers() -> None:
    tokens = tokenize("请问工行数字钱包支付失败了怎么办？")
    for word in ("工行", "数字", "钱包", "支付", "失败"):
        assert word in tokens
    for filler in ("请问", "了", "怎么", "怎么办", "？"):
        assert filler not in tokens


def test_traditional_and_full_width_input_gives_the_same_tokens() -> None:
    assert tokenize("支付失敗了怎麼辦") == tokenize("支付失败了怎么办")
    assert tokenize("ＡＰＰ余额") == tokenize("app余额")


def test_english_words_lower_case_digits_kept_single_letters_dropped() -> None:
    tokens = tokenize("How do I reset my WiFi password? 4G x 2024")
    assert tokens == ["reset", "wifi", "password", "4g", "2024"]


def test_content_words_are_not_stopwords() -> None:
    for word in ("支付", "失败", "银行", "钱包", "余额", "客服", "账户", "密码"):
        assert word not in STOPWORDS
    assert {"的", "了", "吗", "怎么办", "为什么", "the", "how"} <= STOPWORDS


def test_search_mode_adds_sub_words() -> None:
    tokens = tokenize("中华人民共和国")
    assert "中华人民共和国" in tokens
    assert "共和国" in tokens


def test_term_spans_match_tokenize_and_index_the_original() -> None:
    text = "請問：工行數字錢包ＡＰＰ支付失敗，餘額不足怎麼辦？"
    spans = term_spans(text)
    assert [token for token, _, _ in spans] == tokenize(text)
    by_token = {token: text[start:end] for token, start, end in spans}
    assert by_token["支付"] == "支付"
    assert by_token["钱包"] == "錢包"
    assert by_token["app"] == "ＡＰＰ"
    assert by_token["余额"] == "餘額"


def test_empty_and_punctuation_only_text() -> None:
    assert tokenize("") == []
    assert tokenize("？！，。 …… \n") == []
    assert term_spans("的了吗") == []
