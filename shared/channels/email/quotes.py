"""The part of a plain-text reply a reader should see: quoted history and signatures removed.

Line-based and linear in the input size: every rule looks at single lines (or at most three
joined lines of bounded length), so pathological bodies cannot trigger regex backtracking.
"""

from __future__ import annotations

import re

_MAX_HEADER_LINE = 300
_WRAP_WIDTH = 60  # quoted lines this long may have been wrapped by the sender's client

# "On <date>, <name> wrote:" and its translations (the verb ends the header).
_WROTE_END = re.compile(
    r"(?:wrote|writes|schrieb|a\s+écrit|ha\s+scritto|escribió|escreveu|schreef|skrev|kirjoitti"
    r"|napisał\(a\)|napisała|napisał|napisal|napsal\(a\)|napsala|napsal|írta|yazdı|написал\(а\)"
    r"|написала|написал|пишет|寫道|写道)\s*:?\s*-*\s*$",
    re.IGNORECASE,
)
# Localised Gmail headers without a verb: "<date>, <name> <address>:".
_ADDRESS_COLON_END = re.compile(r"(?:<\s*+[^<>\s@]*+@[^<>]*+>|\(\s*+[^()\s@]*+@[^()]*+\))\s*+:\s*+$")
_VERB_TAIL = 48
_DIGIT = re.compile(r"\d")
_QUOTED_COLON = re.compile(r"^\s*>\s*:\s*$")  # "<address\n>:" wrapped by Gmail

# Outlook-style header blocks ("From: ... / Sent: ... / To: ...") in several languages.
_FROM_KEY = re.compile(
    r"^[\s>*]*(?:from|von|de|da|van|fra|från|od|от|lähettäjä|feladó|kimden|afzender|remitente"
    r"|expéditeur|mittente|发件人|寄件人|寄件者|差出人|보낸\s*사람)[\s*]*:",
    re.IGNORECASE,
)
_OTHER_KEY = re.compile(
    r"^[\s>*]*(?:sent|date|to|subject|cc|bcc|reply-to|gesendet|datum|an|betreff|envoyé(?:\s+le)?|à|a|objet"
    r"|copie\s+à|message\s+du|inviato|data|oggetto|enviado|fecha|para|asunto|assunto|verzonden|aan"
    r"|onderwerp|sendt|dato|til|emne|skickat|till|ämne|wysłano|wysłane|do|temat|kopia|kopie"
    r"|отправлено|дата|кому|тема|копия|lähetetty|vastaanottaja|aihe|päivämäärä|odesláno|komu|předmět"
    r"|发送时间|收件人|主题|日期|抄送|送信日時|宛先|件名)[\s*]*:",
    re.IGNORECASE,
)
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
_SEPARATOR = re.compile(r"^\s*(?:[-_=*~—–]\s*){3,}$")
_UNDERSCORES = re.compile(r"^\s*_{2,}\s*$")
_SIGNATURE_DELIMITER = re.compile(r"^--[ \t]*$")

# "Sent from my iPhone" and other client footers, in several languages.
_MOBILE_PREFIX = re.compile(
    r"^\s*(?:sent\s+(?:from|with|using|via|on)|get\s+outlook\s+for|gesendet\s+(?:von|mit)|von\s+meinem"
    r"|envoyé\s+(?:de|depuis|à\s+partir\s+de|avec)|inviato\s+da|enviado\s+(?:desde|do|de|com)"
    r"|verzonden\s+(?:met|vanaf|van)|verstuurd\s+(?:met|vanaf|van)|skickat\s+från|sendt\s+fra|lähetetty"
    r"|wysłane\s+z|odesláno\s+z|отправлено\s+(?:с|из))\b",
    re.IGNORECASE,
)
_MOBILE_TRAILER = re.compile(r"\s*(?:<[^<>]*>|\([^()]*\))\s*$")
_MOBILE_MAX_WORDS = 6


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


def _is_wrote_header(text: str) -> bool:
    if len(text) > _MAX_HEADER_LINE or not (_DIGIT.search(text) or "@" in text):
        return False
    if _WROTE_END.search(text[-_VERB_TAIL:]):  # the verb ends the line: look at the tail only
        return True
    return text.rstrip().endswith(":") and bool(_DIGIT.search(text)) and bool(_ADDRESS_COLON_END.search(text))


def _first_header(lines: list[str]) -> tuple[int, int, str] | None:
    """(first line, last line, kind) of the first quote header outside quoted lines."""
    for index, line in enumerate(lines):
        if not line.strip() or _is_quoted(line) or len(line) > _MAX_HEADER_LINE:
            continue
        if _ORIGINAL_MESSAGE.match(line):
            return index, index, "separator"
        if _FROM_KEY.match(line) and _header_block_follows(lines, index):
            return _include_lines_above(lines, index), index, "outlook"
        if _is_wrote_header(line):
            return index, index, "wrote"
        if _DIGIT.search(line):
            joined = line.strip()
            for extra in (1, 2):
                following = index + extra
                if following >= len(lines) or not lines[following].strip():
                    break
                if _is_quoted(lines[following]) and not _QUOTED_COLON.match(lines[following]):
                    break
                if _starts_header(lines[following]) and _is_wrote_header(lines[following]):
                    break  # the next line is a complete header of its own
                joined = f"{joined} {lines[following].strip()}"
                if len(joined) > _MAX_HEADER_LINE:
                    break
                if _is_wrote_header(joined):
                    return index, following, "wrote"
    return None


def _starts_header(line: str) -> bool:
    words = line.split(None, 1)
    return bool(words) and "@" not in words[0] and not words[0].startswith(("<", "("))


def _header_block_follows(lines: list[str], index: int) -> bool:
    for line in lines[index + 1 : index + 1 + _HEADER_BLOCK_WINDOW]:
        if len(line) <= _MAX_HEADER_LINE and _OTHER_KEY.match(line):
            return True
    return False


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
    match = _MOBILE_PREFIX.match(line)
    if not match:
        return False
    rest = _MOBILE_TRAILER.sub("", line[match.end() :]).strip().rstrip(".")
    if any(mark in rest for mark in ",;!?:"):
        return False
    return 0 < len(rest.split()) <= _MOBILE_MAX_WORDS


def _cut_signature(lines: list[str]) -> list[str]:
    """Lines before the first signature delimiter (`-- `) or client footer ("Sent from my ...")."""
    for index, line in enumerate(lines):
        if _SIGNATURE_DELIMITER.match(line) or _is_mobile_signature(line):
            return lines[:index]
    return lines


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
        for size in (1, 2, 3):
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
        if _is_mobile_signature(lines[last]) or _SEPARATOR.match(lines[last]):
            end = last
            changed = True
            continue
        footer = next(
            (
                i
                for i in range(end - 1, max(end - 8, -1), -1)
                if len(lines[i]) < 200 and _UNDERSCORES.match(lines[i])
            ),
            None,
        )
        if footer is not None:
            end = footer
            changed = True
    return lines[:end]
