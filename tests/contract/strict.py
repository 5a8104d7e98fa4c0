"""Strict decoding into the official vers-sdk 1.20.0 models: a missing required field, a wrong type
or `null` where the SDK says `str` fails, as it would in a strictly typed client (Kotlin's `ip: String`)."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import TypeAdapter

T = TypeVar("T")


def strict(model: type[T] | Any, data: Any) -> T:
    """`data` (decoded JSON) as `model`, validated strictly (JSON mode: enums by value, no coercion)."""
    return TypeAdapter(model).validate_json(json.dumps(data), strict=True)
