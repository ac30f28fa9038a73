"""CPU cost of `parse_email` against bare `email.message_from_bytes` on the Zammad corpus.

Run from the repository root: `python benchmarks/bench_parse_cpu.py [repetitions]`.
Both are timed in the same run with `time.process_time`, best of a few repetitions; nothing
is asserted, the numbers are for reading.
"""

from __future__ import annotations

import email
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.channels.email import parse_email  # noqa: E402 - after the path set-up above

CORPUS = ROOT.parent / "shared" / "corpus" / "email" / "zammad"


def best_of(repetitions: int, work: Callable[[], object]) -> float:
    """The smallest CPU time of `repetitions` runs of `work`."""
    times = []
    for _ in range(repetitions):
        started = time.process_time()
        work()
        times.append(time.process_time() - started)
    return min(times)


def main() -> int:
    repetitions = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    mails = [path.read_bytes() for path in sorted(CORPUS.glob("*.box"))]
    if not mails:
        print(f"no mails found in {CORPUS}")
        return 1
    for raw in mails:  # warm up: lazy imports (nh3, inscriptis) and caches
        parse_email(raw)

    stdlib = best_of(repetitions, lambda: [email.message_from_bytes(raw) for raw in mails])
    ours = best_of(repetitions, lambda: [parse_email(raw) for raw in mails])
    size = sum(len(raw) for raw in mails) / 1_000_000
    print(f"{len(mails)} mails, {size:.1f} MB, best of {repetitions}")
    print(f"email.message_from_bytes: {stdlib * 1000:8.1f} ms CPU ({stdlib / len(mails) * 1000:.2f} ms/mail)")
    print(f"parse_email:              {ours * 1000:8.1f} ms CPU ({ours / len(mails) * 1000:.2f} ms/mail)")
    print(f"ratio parse_email / stdlib: {ours / stdlib:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
