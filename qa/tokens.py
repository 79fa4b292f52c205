"""Search tokens for BM25 and highlights: normalised text cut by jieba in search mode, minus stopwords."""

from __future__ import annotations

import functools
import logging

import jieba

from qa.normalize import normalize

_CHINESE_STOPWORDS = """
的 地 得 之 了 着 过 吗 呢 吧 啊 呀 哦 嘛 么 啦 呗 嗯 哈 是 在 和 与 或 或者 及 以及 也 都 就 还 又
才 而 而且 并 并且 但 但是 可是 然而 所以 因为 因此 如果 那么 即 则 把 被 让 给 对 对于 从 向 往 于
以 为 为了 由 由于 其 此 这 那 这个 那个 这些 那些 这样 那样 这么 这种 那种 哪 哪个 哪些 哪里 哪儿
什么 怎么 怎样 怎么样 如何 为什么 为何 多少 几 谁 我 你 您 他 她 它 我们 你们 他们 她们 它们 咱们
大家 自己 请问 请 问 一下 一个 一些 有 没有 没 不 很 非常 太 更 最 可以 可 能 能够 会 要 想 需要
应该 应当 该 办 怎么办 该怎么办 怎么回事 是否 是不是 有没有 能不能 可不可以 会不会 等 等等 还是 呢
时候
"""

_ENGLISH_STOPWORDS = """
the a an is are was were be been being am to of in on at for with by from and or not no nor how what
why when where which who whom whose do does did doing done i my me mine we our us you your he him
his she her it its they them their this that these those can could should would will shall may might
must there here as if then than so about into please any some just also very
"""

STOPWORDS: frozenset[str] = frozenset((_CHINESE_STOPWORDS + _ENGLISH_STOPWORDS).split())


@functools.cache
def _segmenter() -> jieba.Tokenizer:
    # jieba logs its dictionary loading at INFO and guards initialisation with its own lock.
    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba.dt


def _keep(token: str) -> bool:
    if token in STOPWORDS or not any(char.isalnum() for char in token):
        return False
    # A lone Latin letter ("a", "x") carries no meaning; lone digits and CJK characters are kept.
    return not (len(token) == 1 and token.isascii() and token.isalpha())


def tokenize(text: str) -> list[str]:
    """Lower-case, simplified-Chinese search tokens of text, without whitespace, punctuation or stopwords."""
    return [token for token in _segmenter().cut_for_search(normalize(text)) if _keep(token)]


def term_spans(text: str) -> list[tuple[str, int, int]]:
    """(token, start, end) for the same tokens as tokenize, with offsets valid on the original text."""
    # normalize preserves length, so offsets found in the normalised text index the original text.
    spans = _segmenter().tokenize(normalize(text), mode="search")
    return [(token, start, end) for token, start, end in spans if _keep(token)]


def worth_marking(term: str) -> bool:
    """A term that says something on its own: a lone CJK character (钱, 付) would light up half a passage."""
    return len(term) >= 2 or term.isdigit()
