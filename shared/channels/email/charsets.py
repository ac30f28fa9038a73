"""Turning bytes in a declared (often wrong or unknown) charset into text."""

from __future__ import annotations

import codecs
import re

# Labels seen in real mail that Python does not know, or knows under a narrower codec than the
# sender's software used (mail clients write GBK bytes and call them gb2312, and so on).
_ALIASES: dict[str, str] = {
    "iso-gb2312": "gb18030",
    "gb2312": "gb18030",
    "gb_2312-80": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "unicode-1-1-utf-7": "utf-7",
    "x-unicode-2-0-utf-7": "utf-7",
    "utf7": "utf-7",
    "utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "x-sjis": "cp932",
    "sjis": "cp932",
    "windows-31j": "cp932",
    "big5": "big5hkscs",
    "windows-874": "cp874",
    "tis-620": "cp874",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "iso_8859-1": "cp1252",
    "us-ascii": "ascii",
    "ansi_x3.4-1968": "ascii",
}

# Labels that say nothing about the bytes.
_MEANINGLESS = frozenset({"", "unknown", "unknown-8bit", "x-unknown", "default", "charset", "x-user-defined"})

# ISO-2022-JP with Microsoft's extensions (CP50221), which Python has no codec for.
_ISO2022JP_CP932 = "x-iso2022-jp-cp932"
# Codecs tried in turn for a label; later ones are supersets or vendor variants.
_VARIANTS: dict[str, tuple[str, ...]] = {
    "iso2022_jp": ("iso2022_jp", "iso2022_jp_ext", _ISO2022JP_CP932),
    "cp1252": ("cp1252", "latin-1"),
}

# Candidates for bytes in an unknown charset, in order of preference on a tie.
_GUESSES = ("cp1252", "gb18030", "cp932", "big5hkscs", "cp949", "cp1251")
_GUESS_SAMPLE = 16_384
_MOSTLY_RIGHT = 4  # at most one stray byte per this many non-ASCII bytes
_STRAY = re.compile("[\udc80-\udcff]+")


def codec_for(charset: str | None) -> str | None:
    """The Python codec for a MIME charset label, or None when the label is unusable."""
    if not charset:
        return None
    label = charset.strip().strip("\"'").strip().lower()
    label = label.split(";", 1)[0].strip()
    if label in _MEANINGLESS:
        return None
    label = _ALIASES.get(label, label)
    if not label.isascii() or len(label) > 40:
        return None
    try:
        return codecs.lookup(label).name
    except (LookupError, ValueError):
        return None


def decode_bytes(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Decode `data` declared as `charset`; never fails.

    Returns the text and a defect string when the declared charset was unknown or wrong and
    the text was read another way (UTF-8, or the most plausible of a few common charsets).
    """
    codec = codec_for(charset)
    if codec and _single_byte(codec) and not data.isascii():
        # UTF-8 labelled as Latin-1 is common; Latin-1 text that is valid UTF-8 is not.
        try:
            return data.decode("utf-8"), f"charset-mismatch:{codec}"
        except UnicodeDecodeError:
            pass
    for name in _VARIANTS.get(codec, (codec,)) if codec else ():
        try:
            return _decode(data, name), None
        except (UnicodeDecodeError, LookupError):
            continue
    defect = _defect(charset, codec)
    try:
        return data.decode("utf-8"), defect
    except UnicodeDecodeError:
        pass
    for name in ([codec] if codec and codec != "ascii" and not _single_byte(codec) else []) + (
        ["utf-8"] if codec != "utf-8" else []
    ):
        # A multi-byte text with a few stray bytes (often Latin-1 typed into UTF-8): keep the
        # reading and take each stray byte as Windows-1252.
        try:
            text = data.decode(name, errors="surrogateescape")
        except UnicodeDecodeError:  # stateful codecs (UTF-7, ISO-2022) cannot always resume
            continue
        stray = sum(len(run) for run in _STRAY.findall(text))
        if stray * _MOSTLY_RIGHT < sum(1 for byte in data if byte > 0x7F):
            return _STRAY.sub(_as_cp1252, text), f"charset-errors:{name}"
    return guess_decode(data, codec), defect


def _as_cp1252(match: re.Match[str]) -> str:
    return bytes(ord(char) - 0xDC00 for char in match.group()).decode("cp1252", errors="replace")


def guess_decode(data: bytes, hint: str | None = None) -> str:
    """Non-UTF-8 bytes of unknown charset, read with the most plausible of a few common charsets.

    Candidates are Windows-1252, GB18030, CP932, Big5, CP949 and Windows-1251; `hint` wins ties.
    """
    # Score: the share of non-ASCII bytes that land in characters typical for the candidate.
    sample = data[:_GUESS_SAMPLE]
    high = sum(1 for byte in sample if byte > 0x7F)
    order = ([hint] if hint and hint in _GUESSES else []) + [name for name in _GUESSES if name != hint]
    best, best_score = "latin-1", -1.0
    for name in order:
        try:
            text = sample.decode(name)
        except UnicodeDecodeError:
            try:  # the sample may end inside a multi-byte character
                text = sample[:-1].decode(name) if len(data) > _GUESS_SAMPLE else ""
            except UnicodeDecodeError:
                continue
            if not text:
                continue
        score = _typical_high_bytes(text, name) / high if high else 1.0
        if score > best_score:
            best, best_score = name, score
    return data.decode(best, errors="replace")


def _typical_high_bytes(text: str, codec: str) -> int:
    count = 0
    for index, char in enumerate(text):
        if char < "\x80" or not _is_typical(char, codec):
            continue
        if codec == "cp1252" and not _next_to_ascii(text, index):
            continue  # whole words of accented letters: more likely another single-byte script
        count += sum(1 for byte in char.encode(codec, errors="ignore") if byte > 0x7F)
    return count


def _next_to_ascii(text: str, index: int) -> bool:
    before = text[index - 1] if index else " "
    after = text[index + 1] if index + 1 < len(text) else " "
    return before < "\x80" or after < "\x80"


def _is_typical(char: str, codec: str) -> bool:
    point = ord(char)
    if codec == "cp1252":
        return char.isalpha() or char in "‘’“”–—…€"
    if codec == "cp1251":
        return 0x400 <= point <= 0x4FF
    if codec == "cp949":
        return 0xAC00 <= point <= 0xD7A3
    if 0x3000 <= point <= 0x303F or 0xFF01 <= point <= 0xFF5E:
        return True
    if codec == "cp932":
        return 0x3040 <= point <= 0x30FF or _encodes(char, "shift_jis")
    if codec == "gb18030":
        return _encodes(char, "gb2312")
    return _encodes(char, "big5") and 0x4E00 <= point <= 0x9FFF


def _encodes(char: str, codec: str) -> bool:
    try:
        char.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


def _decode(data: bytes, codec: str) -> str:
    if codec == _ISO2022JP_CP932:
        return _iso2022jp_as_cp932(data)
    return data.decode(codec)


def _iso2022jp_as_cp932(data: bytes) -> str:
    """ISO-2022-JP with the Microsoft/NEC extensions (CP50221) that Python's codecs reject."""
    out = bytearray()
    mode = "ascii"
    index = 0
    while index < len(data):
        byte = data[index]
        if byte == 0x1B:
            sequence = data[index + 1 : index + 3]
            if sequence in (b"$@", b"$B"):
                mode = "jis"
            elif sequence in (b"(B", b"(J"):
                mode = "ascii"
            elif sequence == b"(I":
                mode = "kana"
            else:
                raise UnicodeDecodeError("iso2022_jp", data, index, index + 1, "unknown escape")
            index += 3
            continue
        if mode == "jis" and byte > 0x20 and index + 1 < len(data) and data[index + 1] > 0x20:
            first, second = byte, data[index + 1]
            lead = (first + 1) // 2 + (0x70 if first < 0x5F else 0xB0)
            trail = second + (0x1F + (1 if second >= 0x60 else 0) if first % 2 else 0x7E)
            out += bytes((lead & 0xFF, trail & 0xFF))
            index += 2
            continue
        out.append(byte + 0x80 if mode == "kana" and 0x21 <= byte <= 0x5F else byte)
        index += 1
    return out.decode("cp932")


def _defect(charset: str | None, codec: str | None) -> str | None:
    if codec is None and charset and charset.strip().strip("\"'").lower() not in _MEANINGLESS:
        return f"unknown-charset:{charset.strip()[:40]}"
    if codec is not None:
        return f"charset-mismatch:{codec}"
    return None


def _single_byte(codec: str) -> bool:
    return codec.startswith(("cp12", "iso8859", "latin", "mac", "koi8", "cp8", "cp4", "cp7", "tis", "ascii"))
