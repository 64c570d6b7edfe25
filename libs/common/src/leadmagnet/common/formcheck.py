"""Server-side validation of a form submission against the form's field schema.

Everything a visitor sends is hostile until checked here: only declared fields, the declared
types, lengths and options; control characters removed; unknown fields refused.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
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


# Form numbers are what people type (amounts, counts, ages): bounded so that whatever is
# accepted is stored exactly (DynamoDB holds 38 digits, 1E-130..9.99E+125) and reads back as
# the same JSON number (a float keeps 15 significant digits).
MAX_NUMBER_ABS = Decimal(10) ** 15
MAX_NUMBER_DIGITS = 15
MAX_NUMBER_DECIMALS = 6
NUMBER_RULE = (
    f"must be a number between -1e15 and 1e15 with at most {MAX_NUMBER_DIGITS} significant"
    f" digits and {MAX_NUMBER_DECIMALS} decimal places"
)


def _check_number(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None, "must be a number"
    if isinstance(value, str) and len(value) > 40:
        return None, NUMBER_RULE  # no need to parse a novel to refuse it
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except (InvalidOperation, ValueError):
        return None, "must be a number"
    if not number.is_finite():
        return None, "must be a finite number"
    number = number.normalize() if number else Decimal(0)
    exponent = int(number.as_tuple().exponent)
    if (
        abs(number) > MAX_NUMBER_ABS
        or len(number.as_tuple().digits) > MAX_NUMBER_DIGITS
        or -exponent > MAX_NUMBER_DECIMALS
    ):
        return None, NUMBER_RULE
    return (int(number) if exponent >= 0 else float(number)), None


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
        return _check_number(value)
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
