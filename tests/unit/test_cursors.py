"""Listing cursors: what a listing hands out comes back whole, and anything else is refused as a
cursor, never another error."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.logic.cursors import InvalidCursorError, decode_cursor, encode_cursor

parts = st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=4)


@settings(max_examples=80, deadline=None)
@given(parts)
def test_a_cursor_handed_out_comes_back_whole(values: list[str]) -> None:
    assert decode_cursor(encode_cursor(values), len(values)) == values


@settings(max_examples=120, deadline=None)
@given(st.text(max_size=80))
def test_any_other_text_is_refused_as_a_cursor_and_nothing_else(text: str) -> None:
    try:
        decoded = decode_cursor(text, 1, str.isdigit)
    except InvalidCursorError:
        return
    assert len(decoded) == 1
    assert decoded[0].isdigit()


def test_a_cursor_of_another_size_or_shape_is_refused() -> None:
    with pytest.raises(InvalidCursorError):
        decode_cursor(encode_cursor(["a", "b"]), 1)
    with pytest.raises(InvalidCursorError):
        decode_cursor(encode_cursor(["12x"]), 1, str.isdigit)
    with pytest.raises(InvalidCursorError):
        decode_cursor(encode_cursor([""]), 1)
    assert decode_cursor(encode_cursor(["12"]), 1, str.isdigit) == ["12"]
