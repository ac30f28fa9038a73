"""Fuzz: the simulator delivers random mail bytes, SMS texts and webhook bodies (issue 12's rule).

Each example is one run with one to three rounds of an email, an SMS and a webhook step. Whatever the
bytes, the simulator must not fail, and the state's `inputs` must account for each input: stored (the
tickets it names exist), quarantined (the entry is there), refused with a reason (SES's rejection, an
HTTP 4xx) or failed with the handler's error (a dead letter for the asynchronous SES and SNS
deliveries, the error behind a 500 for a webhook): never silently lost. What the application does
with an input is its business; that it is accounted for is the simulator's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.simulator_cli import Run, run_cli, write

SUPPORT = "support@support.example.com"
META_SECRET = b"test-meta-app-secret"

header_bytes = st.binary(max_size=60).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
mail_like = st.builds(
    lambda sender, subject, body, headers: (
        b"From: "
        + sender
        + b"\r\nTo: "
        + SUPPORT.encode()
        + b"\r\nSubject: "
        + subject
        + b"\r\n"
        + headers
        + b"\r\n"
        + body
    ),
    header_bytes,
    header_bytes,
    st.binary(max_size=300),
    st.sampled_from(
        [
            b"",
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n",
            b"Content-Transfer-Encoding: base64\r\n",
            b"Content-Type: text/plain; charset=bogus-8\r\n",
        ]
    ),
)
mail_bytes = st.one_of(mail_like, st.binary(min_size=1, max_size=300))
# Any text a JSON string can hold: control characters and lone surrogates included (st.text leaves
# surrogates out, so the characters are drawn one by one).
any_char = st.one_of(st.characters(codec=None), st.characters(categories=["Cs"]))
any_text = st.lists(any_char, max_size=80).map("".join)
webhook_bodies = st.one_of(
    st.binary(max_size=200), any_text.map(lambda t: t.encode("utf-8", "surrogatepass"))
)


Inputs = tuple[bytes, str, bytes, bool]
"""One mail, one SMS text, one webhook body and whether the webhook is signed."""


def scenario(inputs: list[Inputs]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for number, (mail, sms_text, body, signed) in enumerate(inputs):
        at = f"2025-03-11T08:{number:02d}:"
        signature = "sha256=" + hmac.new(META_SECRET, body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            **({"X-Hub-Signature-256": signature} if signed else {}),
        }
        steps += [
            {
                "at": at + "00Z",
                "email": {"raw_base64": base64.b64encode(mail).decode(), "recipients": [SUPPORT]},
            },
            {
                "at": at + "20Z",
                "sms": {
                    "originationNumber": f"+1425555{number:04d}",
                    "destinationNumber": "+12125550101",
                    "messageBody": sms_text,
                    "inboundMessageId": f"fuzz-sms-{number}",
                },
            },
            {
                "at": at + "40Z",
                "webhook": {
                    "method": "POST",
                    "path": "/webhooks/meta",
                    "headers": headers,
                    "body_base64": base64.b64encode(body).decode(),
                },
            },
        ]
    return steps


def check_accounted(state: dict[str, Any], entry: dict[str, Any]) -> None:
    """The input ended where the state can show it, or was refused or failed with a reason."""
    assert entry["outcome"] in {"stored", "quarantined", "refused", "failed"}, entry
    if entry["outcome"] in {"refused", "failed"}:
        assert entry["reason"], entry
    if entry["kind"] == "webhook":
        if entry["outcome"] == "quarantined":
            refs = {q["ref"] for q in state["quarantine"]}
            assert f"meta:{entry['body_sha256'][:16]}" in refs, entry
        return
    if entry["outcome"] == "failed":  # Lambda gave up: the event went to the dead-letter queue
        assert any(d["line"] == entry["step"] and d["error_message"] for d in state["dead_letters"]), entry
    if entry["outcome"] == "quarantined":
        assert any(q["channel"] == entry["kind"] for q in state["quarantine"]), entry
    if entry["outcome"] == "stored":
        numbers = {t["number"] for t in state["tickets"]}
        told = [r["ticket_number"] for r in entry["deliveries"][0] if r["ticket_number"] is not None]
        assert set(told) <= numbers, entry


inputs = st.tuples(mail_bytes, any_text, webhook_bodies, st.booleans())


@settings(max_examples=10, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(inputs, min_size=1, max_size=3))
def test_random_inputs_end_stored_quarantined_or_refused_with_a_reason(batch: list[Inputs]) -> None:
    with TemporaryDirectory() as folder:
        path = write(Path(folder) / "fuzz.jsonl", *scenario(batch))
        run = run_cli(Run, path, out_file=Path(folder) / "state.json")
    # The simulator itself never fails (exit 1) and never refuses these steps (exit 2)
    assert run.code == 0, run.err
    entries = run.state["inputs"]
    assert [e["kind"] for e in entries] == ["email", "sms", "webhook"] * len(batch)
    for entry in entries:
        check_accounted(run.state, entry)
