"""The part of a plain-text reply a reader should see: quoted history and signatures removed.

Line-based and linear in the input size: every rule looks at single lines (or at most three
joined lines of bounded length), so pathological bodies cannot trigger regex backtracking. The
rules run only on the lines a few string operations per line select (necessary conditions of
each rule, next to it), so a long body costs little more than splitting it.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from itertools import product

_MAX_HEADER_LINE = 300
_WRAP_WIDTH = 60  # quoted lines this long may have been wrapped by the sender's client

# "On <date>, <name> wrote:" and its translations (the verb ends the header).
_WROTE_VERBS = (
    *("wrote", "writes", "schrieb", r"a\s+écrit", r"ha\s+scritto", "escribió", "escreveu", "schreef"),
    *("skrev", "kirjoitti", r"napisał\(a\)", "napisała", "napisał", "napisal", r"napsal\(a\)"),
    *("napsala", "napsal", "írta", "yazdı", r"написал\(а\)", "написала", "написал", "пишет", "寫道", "写道"),
)
# The verb ends the header, followed by `\s*:?\s*-*\s*` at most. The rule is read backwards,
# anchored at the text's last character: one match attempt per text instead of one per position
# of its tail (`_is_wrote_header`).
_WROTE_END_REVERSED = re.compile(
    r"\s*-*\s*:?\s*(?:"
    + "|".join("".join(reversed(re.findall(r"\\s\+|\\.|.", verb))) for verb in _WROTE_VERBS)
    + ")",
    re.IGNORECASE,
)
# A verb at the end of a line, read backwards; the words after a `\s+` count on their own, since
# a header wrapped over lines is joined with spaces ("... a" / "écrit :").
_VERB_END_REVERSED = re.compile(
    "(?:"
    + "|".join(
        "".join(reversed(re.findall(r"\\s\+|\\.|.", part)))
        for verb in _WROTE_VERBS
        for part in {verb, verb.rsplit(r"\s+", 1)[-1]}
    )
    + ")",
    re.IGNORECASE,
)
# Cheap necessary conditions for a line that may end a quote header, checked on every line so that
# the rules above only run near likely headers. A line ending in ASCII letters must end with the
# last three letters of a verb, in any case (`_END_TRIGRAMS`); one ending in `:`, `-`, `)` or a
# space, or with non-ASCII text at its end, is looked at further (`_may_end_header`). The verbs
# ASCII text can match are `_ASCII_VERB_ENDINGS` (`ı` matches `i`; `écrit` ends in ASCII `rit`).
_ASCII_SPACES = " \t\n\v\f\r\x1c\x1d\x1e\x1f"
_HEADER_END_CHARS = frozenset(":-)" + _ASCII_SPACES)
_ASCII_VERB_ENDINGS = (
    *("wrote", "writes", "schrieb", "scritto", "escreveu", "schreef", "skrev", "kirjoitti"),
    *("napisal", "napsal(a)", "napsala", "napsal", "yazdi"),
)
_END_TRIGRAMS = frozenset(
    "".join(letters)
    for ending in (*_ASCII_VERB_ENDINGS, "rit", "rta")
    if ending[-1].isalpha()
    for letters in product(*((char.lower(), char.upper()) for char in ending[-3:]))
)
# Localised Gmail headers without a verb: "<date>, <name> <address>:".
_ADDRESS_COLON_END = re.compile(r"(?:<\s*+[^<>\s@]*+@[^<>]*+>|\(\s*+[^()\s@]*+@[^()]*+\))\s*+:\s*+$")
_VERB_TAIL = 48
_DIGIT = re.compile(r"\d")
_QUOTED_COLON = re.compile(r"^\s*>\s*:\s*$")  # "<address\n>:" wrapped by Gmail

# Outlook-style header blocks ("From: ... / Sent: ... / To: ...") in several languages.
_FROM_KEYS = (
    *("from", "von", "de", "da", "van", "fra", "från", "od", "от", "lähettäjä", "feladó", "kimden"),
    *(
        "afzender",
        "remitente",
        "expéditeur",
        "mittente",
        "发件人",
        "寄件人",
        "寄件者",
        "差出人",
        r"보낸\s*사람",
    ),
)
_OTHER_KEYS = (
    *("sent", "date", "to", "subject", "cc", "bcc", "reply-to", "gesendet", "datum", "an", "betreff"),
    *(r"envoyé(?:\s+le)?", "à", "a", "objet", r"copie\s+à", r"message\s+du", "inviato", "data", "oggetto"),
    *("enviado", "fecha", "para", "asunto", "assunto", "verzonden", "aan", "onderwerp", "sendt", "dato"),
    *("til", "emne", "skickat", "till", "ämne", "wysłano", "wysłane", "do", "temat", "kopia", "kopie"),
    *("отправлено", "дата", "кому", "тема", "копия", "lähetetty", "vastaanottaja", "aihe", "päivämäärä"),
    *(
        "odesláno",
        "komu",
        "předmět",
        "发送时间",
        "收件人",
        "主题",
        "日期",
        "抄送",
        "送信日時",
        "宛先",
        "件名",
    ),
)


def _key_pattern(keys: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"^[\s>*]*(?:" + "|".join(keys) + r")[\s*]*:", re.IGNORECASE)


def _ascii_words(fragments: tuple[str, ...]) -> frozenset[str]:
    """The fragments ASCII text can match, lower-cased, `\\s+` read as one space: none of the
    non-ASCII ones can (no key or prefix holds `ſ`, `ı` or the Kelvin sign)."""
    words = {fragment.replace(r"\s+", " ") for fragment in fragments if fragment.isascii()}
    if not all(re.fullmatch(r"[a-z]+(?:[ -][a-z]+)*", word) for word in words):
        raise ValueError(f"an ASCII key holds regex syntax this filter cannot read: {sorted(words)}")
    return frozenset(words)


_KEY_DECORATION = _ASCII_SPACES + ">*"  # what may surround a key before its colon
_FROM_KEY = _key_pattern(_FROM_KEYS)
_OTHER_KEY = _key_pattern(_OTHER_KEYS)
_ASCII_FROM_KEYS = _ascii_words(_FROM_KEYS)
_ASCII_OTHER_KEYS = _ascii_words(_OTHER_KEYS)
_LONGEST_ASCII_FROM_KEY = max(map(len, _ASCII_FROM_KEYS))
if any(" " in key for key in _ASCII_FROM_KEYS):  # `_key_lines` compares From keys as one word
    raise ValueError("an ASCII From key of several words")
_HEADER_BLOCK_WINDOW = 6

# "-----Original Message-----" and its relatives.
_ORIGINAL_MESSAGE = re.compile(
    r"^\s*+-{2,}+\s*+(?:original\s+message|message\s+d'origine|ursprüngliche\s+nachricht|messaggio\s+originale"
    r"|mensaje\s+original|mensagem\s+original|oorspronkelijk\s+bericht|oprindelig\s+(?:besked|meddelelse)"
    r"|opprinnelig\s+melding|ursprungligt\s+meddelande|alkuperäinen\s+viesti|wiadomość\s+oryginalna"
    r"|původní\s+zpráva|исходное\s+сообщение|原始邮件|元のメッセージ|reply\s+message|forwarded\s+message"
    r"|weitergeleitete\s+nachricht|message\s+transféré|mensaje\s+reenviado)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_DASHES_AND_SPACES = "-" + _ASCII_SPACES
_SEPARATOR = re.compile(r"^\s*(?:[-_=*~—–]\s*){3,}$")
_UNDERSCORES = re.compile(r"^\s*_{2,}\s*$")
_SIGNATURE_DELIMITER = re.compile(r"^--[ \t]*$")

# "Sent from my iPhone" and other client footers, in several languages.
_MOBILE_PREFIXES = (
    r"sent\s+(?:from|with|using|via|on)",
    r"get\s+outlook\s+for",
    r"gesendet\s+(?:von|mit)",
    r"von\s+meinem",
    r"envoyé\s+(?:de|depuis|à\s+partir\s+de|avec)",
    r"inviato\s+da",
    r"enviado\s+(?:desde|do|de|com)",
    r"verzonden\s+(?:met|vanaf|van)",
    r"verstuurd\s+(?:met|vanaf|van)",
    r"skickat\s+från",
    r"sendt\s+fra",
    "lähetetty",
    r"wysłane\s+z",
    r"odesláno\s+z",
    r"отправлено\s+(?:с|из)",
)
_MOBILE_PREFIX = re.compile(r"^\s*(?:" + "|".join(_MOBILE_PREFIXES) + r")\b", re.IGNORECASE)
# An ASCII line can only start with one of these words (the first word of a prefix).
_ASCII_MOBILE_FIRST_WORDS = frozenset(
    prefix.split("\\s+", 1)[0] for prefix in _MOBILE_PREFIXES if prefix.split("\\s+", 1)[0].isascii()
)
_MOBILE_MARKS = frozenset(",;!?:")  # a footer is no sentence
_MOBILE_TRAILER = re.compile(r"\s*(?:<[^<>]*>|\([^()]*\))\s*$")
_MOBILE_MAX_WORDS = 6
# First characters of a line that may start a signature: `-`, a space, or the first letter of a
# `_MOBILE_PREFIX` word that ASCII text can match (both cases; any non-ASCII character is looked at
# further). `lähetetty`, `wysłane` and `odesláno` start with ASCII letters followed by non-ASCII
# ones within their first six characters.
_SIGNATURE_FIRST_CHARS = frozenset("-" + _ASCII_SPACES + "egisvEGISV")
_NON_ASCII_WORD_FIRST_CHARS = frozenset("lwoLWO")


def visible_text(text: str) -> str:
    """The new part of a reply: quoted history, quote headers and signatures removed.

    Top-posted replies keep the text above the first quote header. Replies written under or
    between quoted lines keep the conversation up to the last new line, without the trailing
    quote and signature. When nothing would be left, the whole text is returned.
    """
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = normalized.split("\n")
    header = _first_header(lines)
    body = lines
    if header is not None:
        start, end, kind = header
        body = lines[:start]
        after_quote = _skip_quoted_block(lines, end + 1) if kind == "wrote" else None
        rest = _trim(_cut_signature(lines[after_quote:])) if after_quote is not None else []
        if _has_text(rest):
            # Written under the quote (bottom-posted): only the new text. Written between quoted
            # lines: keep the quotes for context.
            bottom_posted = not _has_text(body) and not any(_is_quoted(line) for line in rest)
            body = rest if bottom_posted else lines
    body = _trim(_cut_signature(body))
    result = "\n".join(body).strip("\n")
    return result if result.strip() else normalized.strip("\n")


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _has_text(lines: list[str]) -> bool:
    return any(line.strip() for line in lines)


def _skip_quoted_block(lines: list[str], index: int) -> int | None:
    """The index after the `>` block starting at `index` (blank lines allowed), or None if none follows."""
    while index < len(lines) and not lines[index].strip():
        index += 1
    if index >= len(lines) or not _is_quoted(lines[index]):
        return None
    previous_long_quote = False
    while index < len(lines):
        line = lines[index]
        if _is_quoted(line):
            previous_long_quote = len(line.rstrip()) >= _WRAP_WIDTH
        elif not line.strip():
            previous_long_quote = False
        elif not previous_long_quote:
            break
        # else: an unquoted line right under a long quoted one is the rest of a wrapped quote line
        index += 1
    return index


def _may_end_header(line: str) -> bool:
    """Whether a quote header may end with `line` (necessary for `_is_wrote_header`, not sufficient).

    The verb of `_WROTE_END_REVERSED` must end the line, before `\\s*:?\\s*-*\\s*`; when the last nine
    characters before those are ASCII (the longest verb text ASCII can match has nine), only the
    verbs of `_ASCII_VERB_ENDINGS` can.
    """
    end = line[-3:]
    if end in _END_TRIGRAMS:
        core = line  # ends in ASCII letters: the verb must end the line itself
    elif end[-1:] not in _HEADER_END_CHARS and end.isascii():
        return False
    else:
        text = line.rstrip()
        if text.endswith(":"):
            core = text[:-1].rstrip()
            if not core or core[-1] in ">)":  # `<address>:` (Gmail), maybe wrapped before the colon
                return True
        else:
            core = text.rstrip("-").rstrip()
            if core.endswith(":"):
                core = core[:-1].rstrip()
        if not core:
            return False
    if core[-9:].isascii():
        return core[-9:].lower().endswith(_ASCII_VERB_ENDINGS)
    return bool(_VERB_END_REVERSED.match(core[-_VERB_TAIL:][::-1]))


def _is_wrote_header(text: str) -> bool:
    if len(text) > _MAX_HEADER_LINE or not (_DIGIT.search(text) or "@" in text):
        return False
    if _WROTE_END_REVERSED.match(text[-_VERB_TAIL:][::-1]):  # the verb ends the line, in the tail
        return True
    return text.rstrip().endswith(":") and bool(_DIGIT.search(text)) and bool(_ADDRESS_COLON_END.search(text))


def _first_header(lines: list[str]) -> tuple[int, int, str] | None:
    """(first line, last line, kind) of the first quote header outside quoted lines.

    The lines each rule may fire on are found first, with a few string operations per line (see
    `_may_end_header`); the rules then run on those lines only, in order.
    """
    found = _header_candidates(lines)
    for index in found.starts(lines):
        line = lines[index]
        if not line.strip() or _is_quoted(line) or len(line) > _MAX_HEADER_LINE:
            continue
        if index in found.separators:
            return index, index, "separator"
        if index in found.outlook:
            return _include_lines_above(lines, index), index, "outlook"
        if index in found.ends and _is_wrote_header(line):
            return index, index, "wrote"
        if _DIGIT.search(line):
            last = _wrapped_wrote_header(lines, index, found.ends)
            if last is not None:
                return index, last, "wrote"
    return None


@dataclass(frozen=True)
class _HeaderCandidates:
    """The lines on which each kind of quote header may start or end."""

    ends: set[int]
    """Lines a "wrote" header may end on (`_may_end_header`)."""
    separators: set[int]
    """`-----Original Message-----` lines."""
    outlook: set[int]
    """`From:` lines followed by a block of Outlook header lines."""

    def starts(self, lines: list[str]) -> list[int]:
        """Every line a header may start on, in order.

        A "wrote" header starts on a line with a digit (or `@` when it is one line) and ends on
        one of `ends`, at most two lines further.
        """
        spans = self.ends.union([end - 1 for end in self.ends], [end - 2 for end in self.ends])
        wrote = {
            start for start in spans if start >= 0 and ("@" in lines[start] or _DIGIT.search(lines[start]))
        }
        return sorted(wrote.union(self.separators, self.outlook))


def _header_candidates(lines: list[str]) -> _HeaderCandidates:
    ends = {
        index
        for index, line in enumerate(lines)
        if (
            (end := line[-3:]) in _END_TRIGRAMS
            or (end[-1:] in _HEADER_END_CHARS and line.strip(_DASHES_AND_SPACES))  # not only dashes
            or not end.isascii()
        )
        and _may_end_header(line)
    }
    separators = {
        index
        for index, line in enumerate(lines)
        if "--" in line
        and len(line) <= _MAX_HEADER_LINE
        and line.strip(_DASHES_AND_SPACES)  # words between the dashes
        and _ORIGINAL_MESSAGE.match(line)
    }
    from_keys, other_keys = _key_lines(lines)
    outlook = {index for index in from_keys if _header_block_follows(other_keys, index)}
    return _HeaderCandidates(ends, separators, outlook)


def _wrapped_wrote_header(lines: list[str], index: int, ends: set[int]) -> int | None:
    """The last line of a "wrote" header starting on `index` and wrapped over up to two more lines."""
    joined = lines[index].strip()
    for extra in (1, 2):
        following = index + extra
        if following >= len(lines) or not lines[following].strip():
            return None
        if _is_quoted(lines[following]) and not _QUOTED_COLON.match(lines[following]):
            return None
        may_end = following in ends
        if may_end and _starts_header(lines[following]) and _is_wrote_header(lines[following]):
            return None  # the next line is a complete header of its own
        joined = f"{joined} {lines[following].strip()}"
        if len(joined) > _MAX_HEADER_LINE:
            return None
        if may_end and _is_wrote_header(joined):
            return following
    return None


def _starts_header(line: str) -> bool:
    words = line.split(None, 1)
    return bool(words) and "@" not in words[0] and not words[0].startswith(("<", "("))


def _key_lines(lines: list[str]) -> tuple[list[int], list[int]]:
    """Indexes of the lines that start with a From key, and of those that start with another
    header key (`Sent:`, `An:`...), each with its colon (`_FROM_KEY`, `_OTHER_KEY`).

    Only lines whose text before the colon is, once lower-cased, one of the keys ASCII text can
    match (or is not ASCII) are matched against the patterns. From keys are looked for outside
    quoted lines only (where `_first_header` looks), the other keys only when a From key was found.
    """
    heads = [
        (index, line.partition(":")[0].strip(_KEY_DECORATION))
        for index, line in enumerate(lines)
        if ":" in line and len(line) <= _MAX_HEADER_LINE
    ]
    from_keys = [
        index
        for index, head in heads
        if (
            not head.isascii()
            # the ASCII From keys are single words
            or (len(head) <= _LONGEST_ASCII_FROM_KEY and head.lower() in _ASCII_FROM_KEYS)
        )
        and not _is_quoted(lines[index])  # a quoted block never starts a header
        and _FROM_KEY.match(lines[index])
    ]
    if not from_keys:
        return [], []
    other_keys = [
        index
        for index, head in heads
        if (not head.isascii() or " ".join(head.lower().split()) in _ASCII_OTHER_KEYS)
        and _OTHER_KEY.match(lines[index])
    ]
    return from_keys, other_keys


def _header_block_follows(other_keys: list[int], index: int) -> bool:
    """Whether another header key follows line `index` within the window (`other_keys` sorted)."""
    following = bisect_right(other_keys, index)
    return following < len(other_keys) and other_keys[following] <= index + _HEADER_BLOCK_WINDOW


def _include_lines_above(lines: list[str], index: int) -> int:
    """Move a header block's start up over separator lines and header lines right above it."""
    start = index
    probe = index - 1
    while probe >= 0:
        line = lines[probe]
        if len(line) > _MAX_HEADER_LINE:
            break
        if not line.strip():
            probe -= 1
            continue
        if _SEPARATOR.match(line) or _ORIGINAL_MESSAGE.match(line) or _OTHER_KEY.match(line):
            start = probe
            probe -= 1
            continue
        break
    return start


def _is_mobile_signature(line: str) -> bool:
    if len(line) > _MAX_HEADER_LINE:
        return False
    words = line.split(None, 1)
    if not words or (words[0].isascii() and words[0].lower() not in _ASCII_MOBILE_FIRST_WORDS):
        return False  # cheaply: no prefix can start this line
    if line.rstrip()[-1:] not in (">", ")") and not _MOBILE_MARKS.isdisjoint(line):
        return False  # cheaply: sentence punctuation, and no trailing <...> or (...) that could hold it
    match = _MOBILE_PREFIX.match(line)
    if not match:
        return False
    rest = _MOBILE_TRAILER.sub("", line[match.end() :]).strip().rstrip(".")
    if not _MOBILE_MARKS.isdisjoint(rest):
        return False
    return 0 < len(rest.split()) <= _MOBILE_MAX_WORDS


def _cut_signature(lines: list[str]) -> list[str]:
    """Lines before the first signature delimiter (`-- `) or client footer ("Sent from my ...")."""
    found = next(
        (
            index
            for index, line in enumerate(lines)
            if (
                _SIGNATURE_DELIMITER.match(line)
                if (first := line[:1]) == "-"
                else (
                    first in _SIGNATURE_FIRST_CHARS
                    or first > "\x7f"
                    or (first in _NON_ASCII_WORD_FIRST_CHARS and not line[:8].isascii())
                )
                and _is_mobile_signature(line)
            )
        ),
        None,
    )
    return lines if found is None else lines[:found]


def _trim(lines: list[str]) -> list[str]:
    """Drop what trails the last new line: blank lines, quoted lines, quote headers, list footers."""
    end = len(lines)
    changed = True
    while changed and end:
        changed = False
        while end and (not lines[end - 1].strip() or _is_quoted(lines[end - 1])):
            end -= 1
            changed = True
        if not end:
            break
        # A run of separator lines that cannot end a header goes line by line below; in one go here.
        while end and _SEPARATOR.match(lines[end - 1]) and not _may_end_header(lines[end - 1]):
            end -= 1
            changed = True
        if changed:
            continue
        for size in (1, 2, 3) if _may_end_header(lines[end - 1]) else ():
            first = end - size
            if first < 0:
                break
            joined = " ".join(line.strip() for line in lines[first:end])
            if _is_wrote_header(joined) and (size == 1 or _DIGIT.search(lines[first])):
                end = first
                changed = True
                break
        if changed:
            continue
        last = end - 1
        if _SEPARATOR.match(lines[last]) or _is_mobile_signature(lines[last]):
            end = last
            changed = True
            continue
        footer = next(
            (
                i
                for i in range(end - 1, max(end - 8, -1), -1)
                if "__" in lines[i] and len(lines[i]) < 200 and _UNDERSCORES.match(lines[i])
            ),
            None,
        )
        if footer is not None:
            end = footer
            changed = True
    return lines[:end]
