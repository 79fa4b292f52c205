"""One validator: a request the schema accepts is read, one it refuses gets a 400 message, for the same values."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from qa.config import Settings
from qa.errors import QuestionError
from qa.requests import AskRequest, FeedbackRequest, SearchParams, body_schema, read_body, read_query

SETTINGS = Settings.load(environ={"QA_MAX_QUESTION_CHARS": "20"})

ASKS: list[Any] = [
    {"question": "付款失败"}, {"question": " 付款\t失败\r\n", "top_k": 3.0}, {"question": "问" * 20, "top_k": 20},
    {"question": "问" * 21}, {"question": ""}, {"question": " \n "}, {"question": "abc\u0000def"},
    {"question": "\u001b[31m"}, {"question": "a\u0085"}, {"question": 5}, {"question": None}, {"top_k": 3},
    {"question": "q", "top_k": 0}, {"question": "q", "top_k": 21}, {"question": "q", "top_k": True},
    {"question": "q", "top_k": 2.5}, {"question": "q", "top_k": "3"}, {"question": "q", "extra": 1},
]
FEEDBACKS: list[Any] = [
    {"request_id": "r1", "helpful": True}, {"request_id": "a.b:c-d_e", "helpful": False, "comment": None},
    {"request_id": "r1", "helpful": True, "comment": "好" * 500}, {"request_id": "r1", "helpful": True,
                                                                    "comment": "好" * 501},
    {"request_id": "r 1", "helpful": True}, {"request_id": "r" * 65, "helpful": True}, {"request_id": "", "helpful": 1},
    {"helpful": True}, {"request_id": "r1"}, {"request_id": "r1", "helpful": "true"},
    {"request_id": "r1", "helpful": True, "comment": 3}, {"request_id": "r1", "helpful": True, "rating": 5},
]


def _agree(cls: type, body: dict[str, Any]) -> None:
    schema_accepts = jsonschema.Draft202012Validator(body_schema(cls, SETTINGS)).is_valid(body)
    try:
        read_body(cls, body, SETTINGS)
    except QuestionError as exc:
        assert not schema_accepts, f"the schema accepts {body!r}, the validator says {exc}"
        assert str(exc)
    else:
        assert schema_accepts, f"the validator accepts {body!r}, the schema does not"


@pytest.mark.parametrize("body", ASKS)
def test_the_ask_schema_and_validator_agree(body: dict[str, Any]) -> None:
    _agree(AskRequest, body)


@pytest.mark.parametrize("body", FEEDBACKS)
def test_the_feedback_schema_and_validator_agree(body: dict[str, Any]) -> None:
    _agree(FeedbackRequest, body)


def test_a_request_is_typed_trimmed_and_defaulted() -> None:
    assert read_body(AskRequest, {"question": " 付款失败 ", "top_k": 3.0}, SETTINGS) == AskRequest("付款失败", 3)
    assert read_query(SearchParams, {"q": "付款", "k": "+4", "other": "x"}, SETTINGS) == SearchParams("付款", 4)
    assert read_body(FeedbackRequest, {"request_id": "r1", "helpful": False, "comment": "  "}, SETTINGS) == \
        FeedbackRequest("r1", False, None)


def test_a_control_character_is_named_with_its_position() -> None:
    with pytest.raises(QuestionError, match=r"`question` holds a control character \(U\+0000 at position 3\)"):
        read_body(AskRequest, {"question": "abc\u0000def"}, SETTINGS)
