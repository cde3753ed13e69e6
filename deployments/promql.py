"""The metric names a PromQL expression reads, to check rules and panels against the catalogue.

Not a full PromQL parser: it drops what cannot hold a metric name (strings, label matchers,
`by (...)`-style label lists, range and subquery brackets, Grafana's `$variables`), then
takes every remaining identifier that is not a function call, keyword or number.
"""

from __future__ import annotations

import re

_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
             "offset", "bool", "atan2", "inf", "nan"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_LABEL_LIST = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_MATCHERS = re.compile(r"\{[^}]*\}")
_BRACKETS = re.compile(r"\[[^\]]*\]")
_VARIABLE = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")
_IDENTIFIER = re.compile(r"(?<![A-Za-z0-9_:.])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?")
_HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")


def metric_names(expr: str) -> set[str]:
    """Every metric (series name) `expr` selects."""
    text = _STRING.sub('""', expr)
    text = _LABEL_LIST.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = _BRACKETS.sub(" ", text)
    text = _VARIABLE.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _KEYWORDS:
            continue
        names.add(name)
    return names


def series_of(exported: set[str]) -> set[str]:
    """The series names Prometheus stores for metric names as a client library declares them.

    A counter `x` (or `x_total`) is stored as `x_total`; a histogram `x` as `x_bucket`, `x_sum`
    and `x_count`; a summary as `x`, `x_sum` and `x_count`. Every form is accepted here, since
    the catalogue names metrics, not series.
    """
    series = set(exported)
    for name in exported:
        base = name.removesuffix("_total")
        series |= {base, base + "_total", *(base + suffix for suffix in _HISTOGRAM_SERIES), base + "_created"}
    return series
