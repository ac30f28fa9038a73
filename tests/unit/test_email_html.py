"""HTML bodies: sanitising, remote images, body choice and text rendering."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared.channels.email import parse_email
from shared.channels.email.html import REMOTE_SRC_ATTRIBUTE, html_to_text, sanitize_html

FIXTURES = Path(__file__).resolve().parents[1] / "events" / "emails"


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.mark.parametrize(
    "dangerous",
    [
        "<script>alert(1)</script>",
        '<img src="cid:x" onerror="alert(1)">',
        '<a href="javascript:alert(1)">x</a>',
        '<a href="JaVaScRiPt:alert(1)">x</a>',
        '<form action="https://evil.example"><input name="password"><button>go</button></form>',
        '<iframe src="https://evil.example"></iframe>',
        '<p style="background:url(https://tracker.example/p.gif)">x</p>',
        '<svg onload="alert(1)"></svg>',
        '<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>',
        '<meta http-equiv="refresh" content="0;url=https://evil.example">',
        '<object data="x.swf"></object>',
    ],
)
def test_sanitizer_removes_active_content(dangerous: str) -> None:
    cleaned = sanitize_html(f"<p>before</p>{dangerous}<p>after</p>").lower()
    for marker in (
        "<script",
        "onerror",
        "onload",
        "javascript:",
        "<form",
        "<input",
        "<iframe",
        "style=",
        "data:text",
        "<meta",
        "<object",
        "tracker",
    ):
        assert marker not in cleaned
    assert "before" in cleaned
    assert "after" in cleaned


def test_remote_images_are_blocked_but_kept_as_data_attribute() -> None:
    cleaned = sanitize_html(
        '<img src="https://tracker.example/p.gif" alt="pixel"><img src="http://x.example/a.png">'
        '<img src="HTTPS://X.example/B.png">'
    )
    assert " src=" not in cleaned
    assert f'{REMOTE_SRC_ATTRIBUTE}="HTTPS://X.example/B.png"' in cleaned
    assert f'{REMOTE_SRC_ATTRIBUTE}="https://tracker.example/p.gif"' in cleaned
    assert 'alt="pixel"' in cleaned


@pytest.mark.parametrize(
    "attack",
    [
        '<img data-remote-src="javascript:alert(1)" alt="x">',
        '<img src="cid:logo@example.org" data-remote-src="javascript:alert(1)">',
        '<img src="https://ok.example/a.png" data-remote-src="javascript:alert(1)">',
        '<a href="x-remote-blocked:javascript:alert(1)">x</a>',
        '<a href=" X-Remote-Blocked:javascript:alert(1)">x</a>',
        '<img src="x-remote-blocked:javascript:alert(1)">',
        '<blockquote cite="x-remote-blocked:javascript:alert(1)">q</blockquote>',
        '<img src="x-remote-blocked:data:text/html,evil">',
    ],
)
def test_sender_written_remote_image_markers_are_dropped(attack: str) -> None:
    # Given HTML whose sender wrote the markers the sanitiser uses for blocked remote images
    # When it is sanitised
    cleaned = sanitize_html(f"<p>before</p>{attack}<p>after</p>")

    # Then no marker survives, and no remote address but an http(s) one the sanitiser moved itself
    lowered = cleaned.lower()
    assert "javascript:" not in lowered
    assert "x-remote-blocked" not in lowered
    assert "data:text" not in lowered
    for value in re.findall(rf'{REMOTE_SRC_ATTRIBUTE}="([^"]*)"', cleaned):
        assert value == "https://ok.example/a.png"
    assert "before" in cleaned
    assert "after" in cleaned


def test_relative_and_other_image_sources_are_dropped_not_marked() -> None:
    cleaned = sanitize_html(
        '<img src="//cdn.example/logo.png"><img src="ftp://x.example/a.png"><img src="logo.png">'
    )
    assert cleaned == "<img><img><img>"


def test_embedded_images_stay_loadable() -> None:
    cleaned = sanitize_html('<img src="cid:logo@example.org"><img src="data:image/png;base64,iVBORw0KGgo=">')
    assert 'src="cid:logo@example.org"' in cleaned
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in cleaned


def test_links_get_noopener() -> None:
    cleaned = sanitize_html('<a href="https://example.org/help">help</a>')
    assert 'href="https://example.org/help"' in cleaned
    assert 'rel="noopener noreferrer"' in cleaned


def test_html_only_mail_gets_text_rendering_and_sanitised_copy() -> None:
    # Given an HTML-only mail with scripts, handlers, a tracking pixel and a form
    parsed = parse_email(load("html_only.eml"))
    # Then the body is HTML, sanitised, and a plain-text rendering exists
    assert parsed.content_type == "text/html"
    assert parsed.html is not None
    assert "Grüße from <b>Alice</b>" in parsed.html
    for marker in (
        "<script",
        "onload",
        "javascript:",
        "<form",
        "<title",
        "Ignored title",
        ' src="https://tracker',
    ):
        assert marker not in parsed.html
    assert 'src="cid:logo@example.org"' in parsed.html
    assert parsed.full_text.startswith("Grüße from Alice")
    assert "alert" not in parsed.full_text


def test_alternative_mail_prefers_plain_text_and_keeps_sanitised_html() -> None:
    parsed = parse_email(load("alternative_inline_image.eml"))
    assert parsed.content_type == "text/html"
    assert parsed.full_text == "See the screenshot below.\n"
    assert parsed.html == '<p>See the screenshot below.</p><img src="cid:shot@example.net">'


def test_blank_html_alternative_falls_back_to_text() -> None:
    # Given an HTML part that shows nothing (only a remote image)
    raw = (
        b"From: a@example.com\r\nContent-Type: multipart/alternative; boundary=B\r\n\r\n"
        b"--B\r\nContent-Type: text/plain\r\n\r\nthe real text\r\n"
        b'--B\r\nContent-Type: text/html\r\n\r\n<img src="http://spam.example/x">\r\n--B--\r\n'
    )
    parsed = parse_email(raw)
    assert parsed.content_type == "text/plain"
    assert parsed.text == "the real text"


def test_plain_text_with_inline_image_becomes_html() -> None:
    raw = (
        b"From: a@example.com\r\nContent-Type: multipart/related; boundary=B\r\n\r\n"
        b"--B\r\nContent-Type: text/plain\r\n\r\nlook <here>\r\n"
        b"--B\r\nContent-Type: image/png\r\nContent-ID: <img1@x>\r\nContent-Disposition: inline\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--B--\r\n"
    )
    parsed = parse_email(raw)
    assert parsed.content_type == "text/html"
    assert parsed.html == 'look &lt;here&gt;<img src="cid:img1@x">'
    assert parsed.full_text == "look <here>"


def test_html_to_text_keeps_paragraphs_and_drops_head() -> None:
    text = html_to_text(
        "<html><head><title>t</title><style>p{}</style></head><body><p>one</p><p>two<br>three</p></body>"
    )
    assert text == "one\n\ntwo\nthree"
