"""Which script a text is mainly written in: Chinese characters or something else (English, ...)."""


def mostly_cjk(text: str) -> bool:
    """True when at least half of the letters are CJK ideographs."""
    letters = [ch for ch in text if ch.isalpha()]
    cjk = sum(1 for ch in letters if "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff")
    return bool(letters) and cjk * 2 >= len(letters)
