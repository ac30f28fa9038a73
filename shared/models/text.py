"""Text that must fit on one line wherever it is written: subjects and names."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

# What `str.splitlines` (and so the stdlib's header writer) treats as a line break, plus tab.
_LINE_SEPARATORS = re.compile("[\t\n\v\f\r\x1c-\x1e\x85\u2028\u2029]+")
# The other C0 and C1 control characters and DEL: never meant to be shown.
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f]+")


def single_line(text: str) -> str:
    """`text` fit for one line: each run of line separators (CR, LF, VT, FF, FS to RS, NEL,
    U+2028, U+2029) or tabs becomes one space; the other control characters are removed.

    A decoded subject or name can hold any of them (an encoded word may carry `=0D=0A`), and an
    email header written from it would be refused by the stdlib or split in two.
    """
    if text.isprintable():  # the common case: nothing to replace
        return text
    return _LINE_SEPARATORS.sub(" ", _CONTROLS.sub("", text))


OneLine = Annotated[str, AfterValidator(single_line)]
"""A string stored on one line (see `single_line`)."""
