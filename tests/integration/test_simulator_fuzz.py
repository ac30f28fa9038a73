"""Fuzz: the simulator delivers random mail bytes, SMS texts and webhook bodies (issue 12's rule).

Each example is one run with one email, one SMS and one webhook step. Whatever the bytes, the simulator
must not fail, and each input must end somewhere the state says: stored (a ticket), quarantined,
refused with a reason (SES's rejection, an HTTP 4xx with a body), or failed with the handler's error (a
dead letter for the asynchronous SES and SNS deliveries, the error behind a 500 for a webhook): never
silently lost. What the application does with an input is its business; that it is accounted for is
the simulator's.
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
# Any text a JSON string can hold: lone surrogates and control characters included.
any_text = st.text(alphabet=st.characters(codec=None, categories=None), max_size=80)
webhook_bodies = st.one_of(
    st.binary(max_size=200), any_text.map(lambda t: t.encode("utf-8", "surrogatepass"))
)


def scenario(mail: bytes, sms_text: str, body: bytes, signed: bool) -> list[dict[str, Any]]:
    signature = "sha256=" + hmac.new(META_SECRET, body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", **({"X-Hub-Signature-256": signature} if signed else {})}
    return [
        {
            "at": "2025-03-11T08:00:00Z",
            "email": {"raw_base64": base64.b64encode(mail).decode(), "recipients": [SUPPORT]},
        },
        {
            "at": "2025-03-11T08:01:00Z",
            "sms": {
                "originationNumber": "+14255550182",
                "destinationNumber": "+12125550101",
                "messageBody": sms_text,
                "inboundMessageId": "fuzz-sms-1",
            },
        },
        {
            "at": "2025-03-11T08:02:00Z",
            "webhook": {
                "method": "POST",
                "path": "/webhooks/meta",
                "headers": headers,
                "body_base64": base64.b64encode(body).decode(),
            },
        },
    ]


def accounted(run: Run, line: int, channels: set[str]) -> str | None:
    """How the asynchronous input of `line` ended (stored, quarantined, refused, failed), None if lost."""
    state = run.state
    if any(t["channel"] in channels for t in state["tickets"]):
        return "stored"
    if any(q["channel"] in channels for q in state["quarantine"]):
        return "quarantined"
    if any(c["consent"] for c in state["customers"]) and "sms" in channels:
        return "stored"  # a consent keyword is stored on the customer
    if any(r["line"] == line and r["reason"] for r in state["ses_rejections"]):
        return "refused"
    if any(d["line"] == line and d["error_message"] for d in state["dead_letters"]):
        return "failed"
    return None


@settings(max_examples=20, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(mail=mail_bytes, sms_text=any_text, body=webhook_bodies, signed=st.booleans())
def test_random_inputs_end_stored_quarantined_or_refused_with_a_reason(
    mail: bytes, sms_text: str, body: bytes, signed: bool
) -> None:
    with TemporaryDirectory() as folder:
        path = write(Path(folder) / "fuzz.jsonl", *scenario(mail, sms_text, body, signed))
        run = run_cli(Run, path, out_file=Path(folder) / "state.json")
    # The simulator itself never fails (exit 1) and never refuses these steps (exit 2)
    assert run.code == 0, run.err
    assert accounted(run, 1, {"email"}) is not None, run.out
    assert accounted(run, 2, {"sms"}) is not None, run.out
    (response,) = run.state["webhook_responses"]
    if response["status"] >= 500:
        assert response["error"], response  # the handler's error, as Lambda reports it
    elif response["status"] >= 400:
        assert response["body"], response  # refused, and says why
    else:  # accepted: stored as messages, or quarantined under the platform's name
        stored = any(t["channel"] in {"messenger", "instagram", "whatsapp"} for t in run.state["tickets"])
        quarantined = any(q["ref"].startswith("meta:") for q in run.state["quarantine"])
        assert stored or quarantined, response
