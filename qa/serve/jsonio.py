"""JSON responses written by orjson: the typed results (dataclasses) serialised directly, UTF-8, in field order.

Flask's default provider turns a result into dicts with dataclasses.asdict (a deep copy) and then encodes them:
1.0-1.4% of a loaded worker's CPU samples (bench/profile_api.py); orjson writes the dataclasses as they are.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response
from flask.json.provider import DefaultJSONProvider

_OPTIONS = orjson.OPT_NON_STR_KEYS


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON provider with orjson's encoder; non-ASCII characters are written as they are."""

    ensure_ascii = False
    sort_keys = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return orjson.dumps(obj, default=self.default, option=_OPTIONS).decode("utf-8")

    def response(self, *args: Any, **kwargs: Any) -> Response:
        body = orjson.dumps(self._prepare_response_obj(args, kwargs), default=self.default,
                            option=_OPTIONS | orjson.OPT_APPEND_NEWLINE)
        return Response(body, mimetype=self.mimetype)  # the app's response_class
