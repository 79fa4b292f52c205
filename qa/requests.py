"""What the service is asked: typed requests read by one validator, which gives both the 400 messages and the
OpenAPI request schema (qa.serve.openapi reads the schema from here, so the two cannot drift)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Literal, TypeVar

from qa.config import Settings
from qa.errors import QuestionError
from qa.events.records import MAX_COMMENT_CHARS
from qa.query.retrieval import MODES, Mode

MAX_TOP_K = 20
DEFAULT_TOP_K = 5
# An answer's request id; a client's own X-Request-ID is kept when it matches (it ends up in logs and a header).
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# An integer in a query string, also written with a zero fraction (3.0), as JSON Schema's "integer" allows.
_INTEGER = re.compile(r"[+-]?[0-9]{1,9}(?:\.0*)?")
# A question's characters: no control character but tab, line feed and carriage return (a NUL or an escape
# sequence is no part of a question and would be echoed into pages and logs).
ALLOWED_CONTROLS = "\t\n\r"
_EXAMPLE_QUESTION = "付款失败但钱被扣了两次怎么办？"


def _char_class(keep: Callable[[str], bool]) -> str:
    """The BMP characters `keep` accepts as a regex class body of \\uXXXX ranges, read alike by ECMA, Python and
    Rust regex dialects."""
    out, start = [], None
    for c in range(0x10001):
        inside = c < 0x10000 and keep(chr(c))
        if inside and start is None:
            start = c
        elif not inside and start is not None:
            out.append(f"\\u{start:04x}" if c - 1 == start else f"\\u{start:04x}-\\u{c - 1:04x}")
            start = None
    return "".join(out)


def _refused_control(char: str) -> bool:
    return (char < "\x20" or "\x7f" <= char <= "\x9f") and char not in ALLOWED_CONTROLS


_CONTROL_CLASS = _char_class(_refused_control)
_SPACE_CLASS = _char_class(str.isspace)
# No refused control character, and at least one character that str.strip() keeps.
QUESTION_PATTERN = f"^[^{_CONTROL_CLASS}]*[^{_SPACE_CLASS}{_CONTROL_CLASS}][^{_CONTROL_CLASS}]*$"


def _utf8(text: str, name: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise QuestionError(f"`{name}` holds an unpaired surrogate (\\ud800-\\udfff); send valid Unicode") from None


class _Rule:
    """How one request field is read; a query string's value is read as its text unless the rule says otherwise."""

    def from_text(self, raw: str, name: str) -> object:
        return raw


@dataclass(frozen=True)
class Question(_Rule):
    """A question as sent: a string of at most QA_MAX_QUESTION_CHARS characters, not blank, no control
    characters; read trimmed."""

    def schema(self, settings: Settings) -> dict[str, Any]:
        return {"type": "string", "minLength": 1, "maxLength": settings.max_question_chars,
                "pattern": QUESTION_PATTERN, "examples": [_EXAMPLE_QUESTION]}

    def read(self, value: object, name: str, settings: Settings) -> str:
        if not isinstance(value, str):
            raise QuestionError(f"`{name}` must be a string")
        # The limit counts the question as sent, spaces included, as the schema's maxLength does.
        limit = settings.max_question_chars
        if len(value) > limit:
            raise QuestionError(f"`{name}` has {len(value)} characters; the limit is {limit}")
        _utf8(value, name)
        control = next((i for i, c in enumerate(value) if _refused_control(c)), None)
        if control is not None:
            raise QuestionError(f"`{name}` holds a control character (U+{ord(value[control]):04X} at position "
                                f"{control}); send the question as plain text (tab and line breaks are fine)")
        if not value.strip():
            raise QuestionError(f"`{name}` is empty: type a question, for example 付款失败但钱被扣了怎么办？")
        return value.strip()


@dataclass(frozen=True)
class Count(_Rule):
    """An integer from 1 to MAX_TOP_K; JSON's 3.0 counts as 3 (as in JSON Schema), a boolean does not."""

    def schema(self, settings: Settings) -> dict[str, Any]:
        return {"type": "integer", "minimum": 1, "maximum": MAX_TOP_K}

    def from_text(self, raw: str, name: str) -> object:
        if not _INTEGER.fullmatch(raw):
            raise QuestionError(f"`{name}` must be an integer from 1 to {MAX_TOP_K}, got {raw[:20]!r}")
        return int(raw.split(".", 1)[0])

    def read(self, value: object, name: str, settings: Settings) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):  # bool is an int subclass, but not a count
            raise QuestionError(f"`{name}` must be an integer from 1 to {MAX_TOP_K}")
        if not 1 <= value <= MAX_TOP_K:
            raise QuestionError(f"`{name}` must be from 1 to {MAX_TOP_K}, got {value}")
        return value


@dataclass(frozen=True)
class Choice(_Rule):
    """One of a few strings; `meaning` says them in the 400 message."""

    choices: tuple[str, ...]
    meaning: str

    def schema(self, settings: Settings) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.choices)}

    def read(self, value: object, name: str, settings: Settings) -> str:
        if not isinstance(value, str) or value not in self.choices:
            raise QuestionError(f"`{name}` must be {self.meaning}, got {str(value)[:20]!r}")
        return value


@dataclass(frozen=True)
class Flag(_Rule):
    """A JSON boolean; `hint` shows a body that sends it."""

    hint: str

    def schema(self, settings: Settings) -> dict[str, Any]:
        return {"type": "boolean"}

    def read(self, value: object, name: str, settings: Settings) -> bool:
        if not isinstance(value, bool):
            raise QuestionError(f"`{name}` must be true or false: {self.hint}")
        return value


@dataclass(frozen=True)
class RequestId(_Rule):
    """An answer's request id (REQUEST_ID)."""

    def schema(self, settings: Settings) -> dict[str, Any]:
        return {"type": "string", "pattern": f"^{REQUEST_ID.pattern}$"}

    def read(self, value: object, name: str, settings: Settings) -> str:
        if not isinstance(value, str) or not REQUEST_ID.fullmatch(value):
            raise QuestionError(f"`{name}` must be an answer's request id: 1 to 64 letters, digits or . _ : -")
        return value


@dataclass(frozen=True)
class Comment(_Rule):
    """Free text of at most MAX_COMMENT_CHARS characters, or null; read trimmed, blank as null."""

    def schema(self, settings: Settings) -> dict[str, Any]:
        return {"type": ["string", "null"], "maxLength": MAX_COMMENT_CHARS}

    def read(self, value: object, name: str, settings: Settings) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise QuestionError(f"`{name}` must be a string (or left out)")
        if len(value) > MAX_COMMENT_CHARS:
            raise QuestionError(f"`{name}` has {len(value)} characters; the limit is {MAX_COMMENT_CHARS}")
        _utf8(value, name)
        return value.strip() or None


Rule = Question | Count | Choice | Flag | RequestId | Comment


def asked(rule: Rule, text: str, default: Any = MISSING, missing: str | None = None) -> Any:
    """A request field: how it is read (rule), its OpenAPI description (`{limit}`: QA_MAX_QUESTION_CHARS), its
    default when left out, or the 400 message when a required field is left out."""
    return field(default=default, metadata={"rule": rule, "description": text, "missing": missing})


@dataclass(frozen=True)
class AskRequest:
    """A question to answer: the body of POST /api/ask."""

    question: str = asked(Question(), "At most {limit} characters as sent (QA_MAX_QUESTION_CHARS), at least one "
                                      "of them not whitespace, no control character but tab and line breaks; "
                                      "answered trimmed.",
                          missing='missing `question`: send {"question": "...", "top_k": 5}')
    top_k: int = asked(Count(), "How many sources to return. A JSON integer; a number with a zero fraction such "
                                "as 3.0 counts as one (as in JSON Schema); booleans are rejected.",
                       default=DEFAULT_TOP_K)


@dataclass(frozen=True)
class SearchParams:
    """The query parameters of GET /api/search."""

    q: str = asked(Question(), "As `question` of /api/ask.", missing="missing query parameter `q`: "
                                                                     "/api/search?q=...&k=5")
    k: int = asked(Count(), "How many passages to return. An integer; one with a zero fraction such as 3.0 "
                            "counts as one (as in JSON Schema).", default=DEFAULT_TOP_K)
    mode: Mode = asked(Choice(MODES, f"one of {', '.join(MODES)}"),
                       "The ranking: hybrid (every signal fused, as answers use), dense (embedding cosine) or bm25 "
                       "(terms).", default="hybrid")


@dataclass(frozen=True)
class HealthParams:
    """The query parameters of GET /api/health."""

    all: Literal["0", "1"] = asked(Choice(("0", "1"), "1 (list every worker) or 0"),
                                   "1: also list every live worker of the server and its build.", default="0")


@dataclass(frozen=True)
class FeedbackRequest:
    """Whether an answer helped: the body of POST /api/feedback (and, from its form fields, of POST /feedback)."""

    request_id: str = asked(RequestId(), "The `request_id` of the /api/ask response (its X-Request-ID). An id this "
                                         "server has not seen is kept all the same, marked so.",
                            missing="missing `request_id`: send the request id of the answer (the `request_id` of "
                                    "the /api/ask response, or its X-Request-ID header)")
    helpful: bool = asked(Flag('send {"request_id": "...", "helpful": false}'),
                          "Whether the answer (or abstention) helped.",
                          missing='`helpful` must be true or false: send {"request_id": "...", "helpful": false}')
    comment: str | None = asked(Comment(), f"What was missing, at most {MAX_COMMENT_CHARS} characters; digit runs "
                                           "and e-mail addresses are masked before it is kept.", default=None)


T = TypeVar("T")


def read_body(cls: type[T], body: Mapping[str, object], settings: Settings) -> T:
    """A request from a JSON object (or Python values): every field checked, unknown fields refused."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(body) - set(names))
    if unknown:
        raise QuestionError(f"unknown field(s) {', '.join(map(repr, unknown))}; "
                            f"the body accepts only {_listed(names)}")
    return _read(cls, body, settings, text=False)


def read_query(cls: type[T], args: Mapping[str, str], settings: Settings) -> T:
    """A request from query-string parameters (strings); other parameters are ignored, as a URL may carry them."""
    return _read(cls, args, settings, text=True)


def _read(cls: type[T], raw: Mapping[str, Any], settings: Settings, text: bool) -> T:
    values = {}
    for f in fields(cls):  # type: ignore[arg-type]
        rule: Rule = f.metadata["rule"]
        if f.name not in raw:
            if f.default is MISSING:
                raise QuestionError(f.metadata["missing"])
            values[f.name] = f.default
            continue
        value = rule.from_text(raw[f.name], f.name) if text else raw[f.name]
        values[f.name] = rule.read(value, f.name, settings)
    return cls(**values)


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def body_schema(cls: type, settings: Settings) -> dict[str, Any]:
    """The JSON Schema of a request body: the rules' own schemas, the fields' descriptions and defaults."""
    return {"description": " ".join((cls.__doc__ or "").split()), "type": "object",
            "required": [f.name for f in fields(cls) if f.default is MISSING], "additionalProperties": False,
            "properties": {f.name: _property(f, settings) for f in fields(cls)}}


def query_parameters(cls: type, settings: Settings) -> list[dict[str, Any]]:
    """The OpenAPI query parameters of a request read with read_query."""
    out = []
    for f in fields(cls):
        schema = _property(f, settings)
        description = schema.pop("description")
        out.append({"name": f.name, "in": "query", "required": f.default is MISSING, "schema": schema,
                    "description": description})
    return out


def _property(f: Any, settings: Settings) -> dict[str, Any]:
    schema = f.metadata["rule"].schema(settings)
    if f.default is not MISSING:
        schema["default"] = f.default
    return {**schema, "description": f.metadata["description"].format(limit=settings.max_question_chars)}
