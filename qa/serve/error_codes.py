"""The JSON error body of every API error, and its codes (read by the error handlers and the OpenAPI document)."""

from __future__ import annotations

from flask import Response, jsonify

ERROR_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
               414: "uri_too_long", 415: "unsupported_media_type", 500: "internal_error", 503: "unavailable"}


def error_code(status: int) -> str:
    return ERROR_CODES.get(status, f"http_{status}")


def error_response(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message}}), status
