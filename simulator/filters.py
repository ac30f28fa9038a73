"""EventBridge-style content filtering, as Lambda applies FilterCriteria (and SNS its filter policies).

A pattern is a JSON object whose keys must all match the event: an object value descends into
the event, a list value holds matchers of which one must match (OR). Matchers: exact values
(strings, numbers, booleans, null), `prefix`, `suffix`, `equals-ignore-case`, `wildcard`,
`anything-but`, `numeric`, `exists`; `$or` takes a list of alternative patterns. Lists in the event
match when any element matches. Patterns are validated up front: FilterPatternError names the problem.
"""

from __future__ import annotations

import json
import re
from typing import Any

_MISSING: Any = object()
_NUMERIC_OPS = {"=", "<", "<=", ">", ">="}
_OPERATORS = {"prefix", "suffix", "equals-ignore-case", "wildcard", "anything-but", "numeric", "exists"}


class FilterPatternError(ValueError):
    """A filter pattern that is not valid (or uses an operator the simulator does not evaluate)."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _literal(value: Any) -> bool:
    return value is None or isinstance(value, str | bool) or _is_number(value)


def _check_text_operand(operator: str, operand: Any, path: str) -> None:
    if isinstance(operand, dict) and operator in {"prefix", "suffix"}:
        if set(operand) != {"equals-ignore-case"} or not isinstance(operand["equals-ignore-case"], str):
            raise FilterPatternError(f'{path}: {operator} takes a string or {{"equals-ignore-case": string}}')
        return
    if not isinstance(operand, str):
        raise FilterPatternError(f"{path}: {operator} takes a string, got {json.dumps(operand)}")


def _check_numeric(operand: Any, path: str) -> None:
    if not isinstance(operand, list) or len(operand) not in (2, 4):
        raise FilterPatternError(f"{path}: numeric takes [op, number] or [op, number, op, number]")
    ops, numbers = operand[0::2], operand[1::2]
    for op, number in zip(ops, numbers, strict=True):
        if op not in _NUMERIC_OPS:
            raise FilterPatternError(
                f"{path}: unknown numeric operator {op!r} (one of {sorted(_NUMERIC_OPS)})"
            )
        if not _is_number(number):
            raise FilterPatternError(f"{path}: numeric compares with numbers, got {json.dumps(number)}")
    if len(ops) == 2 and (ops[0] not in {">", ">="} or ops[1] not in {"<", "<="}):
        raise FilterPatternError(f'{path}: a numeric range is [">"|">=", low, "<"|"<=", high]')


def _check_matcher(matcher: Any, path: str) -> None:
    if _literal(matcher):
        return
    if not isinstance(matcher, dict) or len(matcher) != 1:
        raise FilterPatternError(
            f"{path}: a matcher is a value or a one-key object, got {json.dumps(matcher)}"
        )
    ((operator, operand),) = matcher.items()
    if operator == "cidr":
        raise FilterPatternError(f"{path}: cidr matching is not supported by the simulator")
    if operator not in _OPERATORS:
        raise FilterPatternError(f"{path}: unknown operator {operator!r} (one of {sorted(_OPERATORS)})")
    if operator in {"prefix", "suffix", "equals-ignore-case", "wildcard"}:
        _check_text_operand(operator, operand, path)
    elif operator == "exists":
        if not isinstance(operand, bool):
            raise FilterPatternError(f"{path}: exists takes true or false")
    elif operator == "numeric":
        _check_numeric(operand, path)
    elif isinstance(operand, dict):  # anything-but with an operator
        if len(operand) != 1 or next(iter(operand)) not in {
            "prefix",
            "suffix",
            "equals-ignore-case",
            "wildcard",
        }:
            raise FilterPatternError(
                f"{path}: anything-but takes values or one of prefix, suffix, equals-ignore-case, wildcard"
            )
        ((inner, value),) = operand.items()
        values = value if isinstance(value, list) and inner in {"equals-ignore-case", "wildcard"} else [value]
        for item in values:
            if not isinstance(item, str):
                raise FilterPatternError(f"{path}: anything-but {inner} takes strings")
    else:
        values = operand if isinstance(operand, list) else [operand]
        if not values or not all(isinstance(v, str) or _is_number(v) for v in values):
            raise FilterPatternError(f"{path}: anything-but takes a string, a number or a list of them")


def validate_pattern(pattern: Any, path: str = "pattern") -> dict[str, Any]:
    """Check a pattern's structure; returns it (as a dict) or raises FilterPatternError."""
    if not isinstance(pattern, dict) or not pattern:
        raise FilterPatternError(f"{path}: a pattern is a non-empty JSON object")
    for key, value in pattern.items():
        where = f"{path}.{key}"
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise FilterPatternError(f"{where}: $or takes a list of at least two patterns")
            for index, alternative in enumerate(value):
                validate_pattern(alternative, f"{where}[{index}]")
        elif isinstance(value, dict):
            validate_pattern(value, where)
        elif isinstance(value, list):
            if not value:
                raise FilterPatternError(f"{where}: an empty list matches nothing")
            for index, matcher in enumerate(value):
                _check_matcher(matcher, f"{where}[{index}]")
        else:
            raise FilterPatternError(f"{where}: leaf values must be in a list, e.g. [{json.dumps(value)}]")
    return pattern


def parse_pattern(text: str | dict[str, Any], path: str = "pattern") -> dict[str, Any]:
    """A pattern from its JSON text (Lambda FilterCriteria) or an already-parsed object (SNS policies)."""
    if isinstance(text, str):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FilterPatternError(f"{path}: not valid JSON: {exc.msg}") from None
    else:
        data = text
    return validate_pattern(data, path)


def _equal(expected: Any, actual: Any) -> bool:
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if _is_number(expected):
        return _is_number(actual) and float(expected) == float(actual)
    return isinstance(actual, str) and expected == actual


def _as_number(value: Any) -> float | None:
    if _is_number(value):
        return float(value)
    if isinstance(value, str):  # DynamoDB stream images carry numbers as strings ({"N": "42"})
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _wildcard(pattern: str, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = re.split(r"(?<!\\)\*", pattern)
    regex = ".*".join(re.escape(part.replace("\\*", "*")) for part in parts)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def _text_match(operator: str, operand: Any, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    ignore_case = isinstance(operand, dict)
    needle: str = operand["equals-ignore-case"] if ignore_case else operand
    subject = value.casefold() if ignore_case else value
    needle = needle.casefold() if ignore_case else needle
    return subject.startswith(needle) if operator == "prefix" else subject.endswith(needle)


def _numeric(operand: list[Any], value: Any) -> bool:
    number = _as_number(value)
    if number is None:
        return False
    for op, bound in zip(operand[0::2], operand[1::2], strict=True):
        limit = float(bound)
        ok = {
            "=": number == limit,
            "<": number < limit,
            "<=": number <= limit,
            ">": number > limit,
            ">=": number >= limit,
        }[op]
        if not ok:
            return False
    return True


def _anything_but(operand: Any, value: Any) -> bool:
    if isinstance(operand, dict):
        ((inner, target),) = operand.items()
        if not isinstance(value, str):
            return False
        if inner in {"prefix", "suffix"}:
            return not _text_match(inner, target, value)
        targets = target if isinstance(target, list) else [target]
        if inner == "equals-ignore-case":
            return value.casefold() not in {t.casefold() for t in targets}
        return not any(_wildcard(t, value) for t in targets)
    values = operand if isinstance(operand, list) else [operand]
    return not any(_equal(v, value) for v in values)


def _leaf(matcher: Any, value: Any) -> bool:
    if isinstance(matcher, dict) and "exists" in matcher:
        present = value is not _MISSING and not isinstance(value, dict)
        if isinstance(value, list):
            present = any(not isinstance(v, dict | list) for v in value)
        return present if matcher["exists"] else value is _MISSING
    if value is _MISSING:
        return False
    if isinstance(value, list):
        return any(_leaf(matcher, item) for item in value)
    if not isinstance(matcher, dict):
        return _equal(matcher, value)
    ((operator, operand),) = matcher.items()
    if operator in {"prefix", "suffix"}:
        return _text_match(operator, operand, value)
    if operator == "equals-ignore-case":
        return isinstance(value, str) and value.casefold() == operand.casefold()
    if operator == "wildcard":
        return _wildcard(operand, value)
    if operator == "numeric":
        return _numeric(operand, value)
    return _anything_but(operand, value)


def matches(pattern: dict[str, Any], event: Any) -> bool:
    """Whether `event` matches one (validated) pattern."""
    if isinstance(event, list):
        return any(matches(pattern, item) for item in event if isinstance(item, dict))
    fields: dict[str, Any] = event if isinstance(event, dict) else {}
    for key, expected in pattern.items():
        if key == "$or":
            if not any(matches(alternative, fields) for alternative in expected):
                return False
            continue
        value = fields.get(key, _MISSING)
        if isinstance(expected, dict):
            if not matches(expected, {} if value is _MISSING else value):
                return False
        elif not any(_leaf(matcher, value) for matcher in expected):
            return False
    return True


def matches_any(patterns: list[dict[str, Any]], event: Any) -> bool:
    """Lambda's rule: no filters lets everything through; otherwise any one pattern must match."""
    return not patterns or any(matches(pattern, event) for pattern in patterns)
