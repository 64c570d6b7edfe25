"""Server-side validation of a form submission against the form's field schema.

Everything a visitor sends is hostile until checked here: only declared fields, the declared
types, lengths and options; control characters removed; unknown fields refused.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import urlsplit

from .models import Form, FormField

EMAIL = re.compile(
    r"^[^@\s<>\"']{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
PHONE = re.compile(r"^\+?[0-9 ().-]{6,25}$")


def _clean_text(value: str) -> str:
    # Drop control/format characters (except newline and tab) that hide content in logs and mail.
    return "".join(
        ch for ch in value if ch in "\n\t" or not unicodedata.category(ch).startswith("C")
    ).strip()


def _check_field(field: FormField, value: Any) -> tuple[Any, str | None]:
    if field.type == "checkbox":
        if isinstance(value, bool):
            return value, None
        if value in ("on", "true", "1", 1):
            return True, None
        if value in ("false", "0", 0, "", None):
            return False, None
        return None, "must be true or false"
    if field.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return None, "must be a number"
        try:
            number = float(value)
        except ValueError:
            return None, "must be a number"
        if number != number or number in (float("inf"), float("-inf")):
            return None, "must be a finite number"
        return (int(number) if number.is_integer() else number), None
    if not isinstance(value, str):
        return None, "must be a string"
    text = _clean_text(value)
    if field.type != "textarea":
        text = " ".join(text.split())
    if len(text) > field.max_length:
        return None, f"must be at most {field.max_length} characters"
    if not text:
        return "", None
    if field.type == "email" and not EMAIL.match(text):
        return None, "must be a valid email address"
    if field.type == "tel" and not PHONE.match(text):
        return None, "must be a valid phone number"
    if field.type == "url":
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return None, "must be an http(s) URL"
    if field.type == "select" and text not in field.options:
        return None, f"must be one of: {', '.join(field.options)}"
    return text, None


def validate_submission(
    form: Form, payload: dict[str, Any], *, ignore: frozenset[str] = frozenset()
) -> tuple[dict[str, Any], dict[str, str]]:
    """Return (clean values, {field: error message}). ``ignore`` names fields the caller
    handles itself (e.g. a honeypot)."""
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    known = {f.name: f for f in form.fields}
    for name in payload:
        if name not in known and name not in ignore:
            errors[name] = "is not a field of this form"
    for name, field in known.items():
        value = payload.get(name)
        if value is None or value == "":
            if field.required and field.type != "checkbox":
                errors[name] = "is required"
            continue
        checked, problem = _check_field(field, value)
        if problem:
            errors[name] = problem
        elif field.required and checked in ("", False):
            errors[name] = "is required"
        else:
            clean[name] = checked
    return clean, errors
