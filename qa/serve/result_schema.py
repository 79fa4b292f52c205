"""JSON Schema of the service's typed results (qa.results): derived from the dataclass fields, never typed out."""

from __future__ import annotations

import dataclasses
import types
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

_PRIMITIVES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def schemas_of(roots: dict[str, type]) -> dict[str, dict[str, Any]]:
    """Component schemas for these dataclasses (under the given names) and for every dataclass their fields name
    (under its class name)."""
    out: dict[str, dict[str, Any]] = {}
    todo = list(roots.items())
    while todo:
        name, cls = todo.pop()
        if name in out:
            continue
        schema, nested = _object(cls)
        out[name] = schema
        todo.extend((c.__name__, c) for c in nested)
    return out


def _object(cls: type) -> tuple[dict[str, Any], list[type]]:
    hints = get_type_hints(cls)
    nested: list[type] = []
    properties = {}
    for f in dataclasses.fields(cls):
        extra = {k: v for k, v in f.metadata.items() if k != "items"}
        schema = _type(hints[f.name], nested)
        if "items" in f.metadata:  # e.g. offset pairs: an array whose items the type alone cannot say
            schema["items"] = f.metadata["items"]
        properties[f.name] = {**schema, **extra}
    doc = (cls.__doc__ or "").strip()
    schema = {"type": "object", "required": [f.name for f in dataclasses.fields(cls)], "properties": properties}
    return ({"description": " ".join(doc.split()), **schema} if doc else schema), nested


def _type(hint: Any, nested: list[type]) -> dict[str, Any]:
    origin = get_origin(hint)
    if hint in _PRIMITIVES:
        return {"type": _PRIMITIVES[hint]}
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        nested.append(hint)
        return ref(hint.__name__)
    if origin is Literal:
        return {"type": "string", "enum": list(get_args(hint))}
    if origin in (Union, types.UnionType):
        options = [_type(arg, nested) for arg in get_args(hint)]
        if all(set(o) == {"type"} for o in options):
            return {"type": [o["type"] for o in options]}
        return {"anyOf": options}
    if origin is list:
        return {"type": "array", "items": _type(get_args(hint)[0], nested)}
    if origin is tuple:
        items = get_args(hint)
        if len(items) == 2 and items[1] is Ellipsis:  # tuple[X, ...]: any length
            return {"type": "array", "items": _type(items[0], nested)}
        if len(set(items)) > 1:  # tuple[int, str]: any of the types at each position (schemathesis 4 turns
            # prefixItems into a list under "items" and then refuses its own schema, so positions are not typed)
            kinds = [_type(item, nested)["type"] for item in items]
            return {"type": "array", "items": {"type": list(dict.fromkeys(kinds))}, "minItems": len(items),
                    "maxItems": len(items)}
        return {"type": "array", "items": _type(items[0], nested), "minItems": len(items), "maxItems": len(items)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _type(get_args(hint)[1], nested)}
    raise TypeError(f"no JSON Schema for {hint!r}: extend qa/serve/result_schema.py")

