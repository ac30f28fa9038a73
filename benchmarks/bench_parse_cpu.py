"""CPU cost of `parse_email` against the standard library's full decode, mail by mail.

Run from the repository root: `python benchmarks/bench_parse_cpu.py [repetitions]`.

Each mail is timed alone with `time.process_time`, best of `repetitions` runs (small mails are
repeated inside each run until it lasts a few milliseconds). The baseline is the standard
library's full decode of the same bytes: `email.message_from_bytes` with the default policy, then
the decoded content of every leaf part. The mails are the Zammad corpus plus large and
pathological mails generated here (never stored): long lines, many `>` levels, many header-like
lines. The median and the worst ratio are reported, with the worst mail named; the target is no
mail over 3x. Nothing is asserted: the numbers are for reading.
"""

from __future__ import annotations

import email
import statistics
import sys
import time
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.channels.email import parse_email  # noqa: E402 - after the path set-up above

CORPUS = ROOT.parent / "shared" / "corpus" / "email" / "zammad"
TARGET = 3.0
MIN_RUN_SECONDS = 0.005
MEGABYTE = 1_100_000


def plain_mail(body: str) -> bytes:
    """A text/plain UTF-8 mail with `body` as its 8-bit content."""
    head = (
        "From: Jane Doe <jane@customer.example>\r\nTo: support@support.example.com\r\n"
        "Subject: Re: big\r\nDate: Mon, 02 Mar 2026 09:15:00 +0000\r\nMessage-ID: <big@customer.example>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    )
    return (head + body.replace("\n", "\r\n")).encode("utf-8")


def repeated(line: str, size: int = MEGABYTE) -> str:
    """`line` (with its line break) repeated up to about `size` characters."""
    return line * max(1, size // len(line))


def generated() -> dict[str, bytes]:
    """Large and pathological mails, built in memory."""
    prose = "".join(
        f"Line {i}: the printer on floor {i % 7} shows error E{i % 100} again, see ticket {i}.\n"
        for i in range(MEGABYTE // 80)
    )
    quoted_history = "".join(f"> {i} older text of the thread\n" for i in range(2000))
    return {
        "plain-1.1MB-reply": plain_mail(
            prose
            + "\nOn Mon, 2 Mar 2026 at 09:00, Support <support@support.example.com> wrote:\n"
            + quoted_history
        ),
        "one-1MB-line": plain_mail("x" * MEGABYTE + "\n"),
        "one-line-of-1M-quote-marks": plain_mail(">" * MEGABYTE + " hi\n"),
        "many-quote-levels": plain_mail("".join(">" * (i % 400) + f" level {i}\n" for i in range(5000))),
        "short-lines": plain_mail(repeated("1 e\n")),
        "blank-lines": plain_mail(repeated("\n", MEGABYTE // 2)),
        "header-like-lines": plain_mail(
            "".join(f"Subject {i}: value {i} at 10:00 from x{i}@example.com\n" for i in range(20_000))
        ),
        "from-lines-without-block": plain_mail(repeated("From: someone@example.com 2024\n")),
        "outlook-blocks-in-quotes": plain_mail(
            repeated("> From: A <a@example.com>\n> Sent: Monday\n> To: B\n> Subject: x\n>\n")
        ),
        "wrote-lines-without-date": plain_mail(repeated("a wrote\n")),
        "wrote-headers-with-digits": plain_mail(repeated("On 1 Jan, A <a@example.com> wrote: x\n")),
        "near-headers-over-three-lines": plain_mail(repeated("On 1 Jan 2025\nA <a@example.com>\nsaid:\n")),
        "separator-lines": plain_mail(repeated("-----\n")),
        "signature-like-lines": plain_mail(repeated("Sent from my fridge, really?\n")),
        "trailing-quotes-and-separators": plain_mail(
            "Thanks\n" + repeated("> old\n-----\n\nOn 1 Jan 2025 A <a@b.example> wrote:\n")
        ),
    }


def stdlib_full_decode(raw: bytes) -> None:
    """The baseline: parse, then decode every leaf part's content."""
    message = email.message_from_bytes(raw, policy=policy.default)
    for part in message.walk():
        if part.is_multipart():
            continue
        try:
            if isinstance(part, EmailMessage):
                part.get_content()
        except (LookupError, ValueError, KeyError, AssertionError):  # a part the stdlib cannot decode
            part.get_payload(decode=True)


def cpu_seconds(work: Callable[[], object], repetitions: int) -> float:
    """The smallest CPU time of one call of `work` over `repetitions` runs."""
    started = time.process_time()
    work()
    single = time.process_time() - started
    inner = max(1, int(MIN_RUN_SECONDS / single) if single > 0 else 100)
    best = single
    for _ in range(repetitions):
        started = time.process_time()
        for _ in range(inner):
            work()
        best = min(best, (time.process_time() - started) / inner)
    return best


def main() -> int:
    repetitions = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    mails = {path.name: path.read_bytes() for path in sorted(CORPUS.glob("*.box"))}
    if not mails:
        print(f"no corpus mails found in {CORPUS}; timing the generated mails only")
    extra = generated()
    for raw in [*mails.values(), *extra.values()][:3]:  # warm up: lazy imports (nh3, inscriptis)
        parse_email(raw)

    rows: list[tuple[str, int, float, float]] = []
    for name, raw in [*mails.items(), *extra.items()]:
        stdlib = cpu_seconds(lambda raw=raw: stdlib_full_decode(raw), repetitions)  # type: ignore[misc]
        ours = cpu_seconds(lambda raw=raw: parse_email(raw), repetitions)  # type: ignore[misc]
        rows.append((name, len(raw), stdlib, ours))

    print(f"best of {repetitions} runs, CPU time; ratio = parse_email / stdlib full decode, target {TARGET}x")
    print(f"{'mail':34} {'size':>10} {'stdlib ms':>10} {'ours ms':>10} {'ratio':>7}")
    for name, size, stdlib, ours in rows:
        if name in extra:
            print(f"{name:34} {size:>10,} {stdlib * 1000:>10.1f} {ours * 1000:>10.1f} {ours / stdlib:>6.1f}x")
    for label, group in (("corpus", [r for r in rows if r[0] in mails]), ("all", rows)):
        if not group:
            continue
        ratios = sorted((ours / stdlib, name) for name, _, stdlib, ours in group)
        worst_ratio, worst_name = ratios[-1]
        over = [name for ratio, name in ratios if ratio > TARGET]
        print(
            f"{label}: {len(group)} mails, median {statistics.median(r for r, _ in ratios):.1f}x, "
            f"worst {worst_ratio:.1f}x ({worst_name}), {len(over)} over {TARGET}x"
            + (f": {', '.join(over)}" if over else "")
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
