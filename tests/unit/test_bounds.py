"""Bounds on stored input: measured in UTF-8 bytes, cut between characters, lone surrogates replaced."""

from __future__ import annotations

from shared.logic.bounds import MAX_ATTACHMENTS, Bounder, clip, repair
from shared.logic.quarantine import RAW_PART_BYTES, split_raw


def test_a_four_byte_character_counts_four_and_is_never_cut_in_half() -> None:
    assert clip("\U0001f600" * 3, 8) == "\U0001f600" * 2
    assert clip("\U0001f600" * 3, 11) == "\U0001f600" * 2
    assert clip("abc", 3) == "abc"


def test_lone_surrogates_are_replaced_and_valid_text_is_kept() -> None:
    assert repair("caf\ud800 \udfff") == "caf\ufffd \ufffd"
    assert repair("caf\u00e9 \U0001f600") == "caf\u00e9 \U0001f600"


def test_the_bounder_flags_what_it_changed_and_only_that() -> None:
    bounder = Bounder()
    assert bounder.text("short subject", 2_000, "subject_truncated") == "short subject"
    assert bounder.flags == []
    assert bounder.text("x" * 3_000, 2_000, "subject_truncated") == "x" * 2_000
    assert bounder.text("a\ud800") == "a\ufffd"
    assert bounder.flags == ["subject_truncated", "text_repaired"]


def test_omitted_attachments_are_listed_with_their_count() -> None:
    bounder = Bounder()
    assert bounder.omitted([]) is None
    listing = bounder.omitted([f"file-{i}.bin" for i in range(MAX_ATTACHMENTS * 40)])
    assert listing is not None
    assert listing.startswith(f"{MAX_ATTACHMENTS * 40}: file-0.bin, file-1.bin")
    assert len(listing.encode()) <= 2_000
    assert bounder.flags == ["attachments_omitted"]


def test_a_long_raw_input_is_split_into_parts_that_join_back_exactly() -> None:
    raw = "\U0001f600" * 200_000  # 800,000 bytes
    parts, cut = split_raw(raw)
    assert not cut
    assert "".join(parts) == raw
    assert all(len(part.encode()) <= RAW_PART_BYTES for part in parts)
