"""One casing per resource: no JSON object of an answer has a snake_case key (``template_id``)
beside a camelCase one (``templateId``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

CAMEL = re.compile(r"^[a-z][a-z0-9]*[A-Z]")
# The customer's own documents inside an answer: their keys are theirs (``opt_logo_url``).
FREE_FORM = ("templateFunnelJson", "output")


def mixed_casings(value: Any, free_form: Iterable[str] = FREE_FORM, at: str = "$") -> list[str]:
    """Where ``value`` mixes casings: one line per object holding both a key with ``_`` and a
    camelCase key (at the same level), with the keys; the values of ``free_form`` keys are not
    walked. Empty when the answer keeps to one casing."""
    skip = frozenset(free_form)
    found: list[str] = []
    if isinstance(value, dict):
        keys = [str(k) for k in value]
        snake = sorted(k for k in keys if "_" in k)
        camel = sorted(k for k in keys if CAMEL.match(k))
        if snake and camel:
            found.append(f"{at}: {snake} beside {camel}")
        for k, v in value.items():
            if str(k) not in skip:
                found += mixed_casings(v, skip, f"{at}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += mixed_casings(v, skip, f"{at}[{i}]")
    return found
