"""Checks a line against CloudWatch's Embedded Metric Format specification, as CloudWatch Logs
would before extracting metrics from it (tests of the services' metrics lines)."""

from __future__ import annotations

import json
from typing import Any

MAX_DIMENSIONS_PER_SET = 30
MAX_METRICS_PER_DIRECTIVE = 100


def parse_emf(line: str) -> dict[str, Any]:
    """``line`` as an EMF document; AssertionError saying what is wrong otherwise.

    The rules: one JSON object with an ``_aws`` member holding a millisecond ``Timestamp`` and
    ``CloudWatchMetrics`` directives; each directive names a namespace, dimension sets of at most
    30 keys, each a string member of the root, and 1 to 100 metrics, each a number member."""
    doc = json.loads(line)
    assert isinstance(doc, dict), "an EMF line is one JSON object"
    meta = doc["_aws"]
    timestamp = meta["Timestamp"]
    assert isinstance(timestamp, int), "Timestamp is an integer"
    assert timestamp > 1_000_000_000_000, "Timestamp is in milliseconds since the epoch"
    directives = meta["CloudWatchMetrics"]
    assert isinstance(directives, list), "CloudWatchMetrics is an array"
    assert directives, "CloudWatchMetrics names at least one directive"
    for directive in directives:
        namespace = directive["Namespace"]
        assert isinstance(namespace, str), "Namespace is a string"
        assert 1 <= len(namespace) <= 255, "Namespace has 1 to 255 characters"
        assert isinstance(directive["Dimensions"], list), "Dimensions is an array of sets"
        for dimension_set in directive["Dimensions"]:
            assert len(dimension_set) <= MAX_DIMENSIONS_PER_SET, dimension_set
            for name in dimension_set:
                assert isinstance(doc.get(name), str), f"dimension {name} has no string value"
                assert doc[name], f"dimension {name} is empty"
        metrics = directive["Metrics"]
        assert 1 <= len(metrics) <= MAX_METRICS_PER_DIRECTIVE, "1 to 100 metrics per directive"
        for metric in metrics:
            assert set(metric) <= {"Name", "Unit", "StorageResolution"}, metric
            value = doc.get(metric["Name"])
            assert isinstance(value, int | float), f"metric {metric['Name']} is not a number"
            assert not isinstance(value, bool), f"metric {metric['Name']} is a boolean"
    return doc


def emf_documents(output: str) -> list[dict[str, Any]]:
    """Every EMF line of a process's output (its log lines are left out), each checked."""
    return [
        parse_emf(line)
        for line in output.splitlines()
        if line.startswith('{"') and '"_aws"' in line
    ]


def metric_names(doc: dict[str, Any]) -> set[str]:
    return {m["Name"] for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
