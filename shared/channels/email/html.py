"""HTML bodies: sanitising for display, rendering to plain text, and plain text to HTML."""

from __future__ import annotations

import html as html_lib
import re
import textwrap
from functools import lru_cache
from typing import Any

# Remote images are not loaded: their address moves to `data-remote-src` (a UI may offer to
# load them); cid: and data:image references stay in `src`. Only the sanitiser writes that
# attribute and the internal mark below, and only around an http(s) address: the same names
# written by the sender are dropped (nh3 checks URL schemes before `_filter_attribute` runs,
# so the mark is not an allowed scheme and a sender's `x-remote-blocked:` link never passes).
REMOTE_SRC_ATTRIBUTE = "data-remote-src"
_REMOTE_MARK = "x-remote-blocked:"
_REMOTE_SRC = re.compile(
    r'(<img(?: [^\s="]+="[^"]*")*?) src="' + re.escape(_REMOTE_MARK) + r'((?i:https?):[^"]*)"'
)
_URL_SCHEMES = frozenset({"http", "https", "mailto", "tel", "cid", "data"})
_DROPPED_WITH_CONTENT = frozenset(
    {"script", "style", "title", "head", "noscript", "template", "object", "iframe"}
)
_EXTRA_TAGS = frozenset({"font", "u", "center", "big", "small", "address"})
_EXTRA_ATTRIBUTES: dict[str, set[str]] = {
    "*": {"dir", "lang", "title"},
    "a": {"href", "name", "title"},
    "img": {"src", "alt", "width", "height", "title"},
    "font": {"color", "face", "size"},
    "table": {"border", "cellpadding", "cellspacing", "width", "align", "summary"},
    "td": {"colspan", "rowspan", "align", "valign", "width"},
    "th": {"colspan", "rowspan", "align", "valign", "width", "scope"},
    "tr": {"align", "valign"},
    "div": {"align"},
    "p": {"align"},
}
_VISIBLE_IMAGE = re.compile(r'<img[^>]* src="(?:cid:|data:image/)', re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
_BLANK_LINES = re.compile(r"\n[ \t]*(?:\n[ \t]*){2,}")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")


def _filter_attribute(tag: str, name: str, value: str) -> str | None:
    if name in ("href", "src", "cite"):
        lowered = value.strip().lower()
        if lowered.startswith(_REMOTE_MARK):  # only ever ours, never the sender's
            return None
        if tag == "img" and name == "src":
            if lowered.startswith(("http:", "https:")):
                return _REMOTE_MARK + value.strip()
            if lowered.startswith(("cid:", "data:image/")):
                return value
            return None
        if lowered.startswith("data:"):
            return None
    return value


def sanitize_html(source: str) -> str:
    """HTML safe to show: no scripts, event handlers, styles, forms or `javascript:` links.

    Remote images are blocked (see `REMOTE_SRC_ATTRIBUTE`); links get `rel="noopener noreferrer"`.
    """
    import nh3

    attributes: dict[str, set[str]] = {tag: set(values) for tag, values in nh3.ALLOWED_ATTRIBUTES.items()}
    for tag, values in _EXTRA_ATTRIBUTES.items():
        attributes.setdefault(tag, set()).update(values)
    cleaned: str = nh3.clean(
        source,
        tags=set(nh3.ALLOWED_TAGS) | _EXTRA_TAGS,
        clean_content_tags=set(_DROPPED_WITH_CONTENT),
        attributes=attributes,
        attribute_filter=_filter_attribute,
        url_schemes=set(_URL_SCHEMES),
        url_relative="deny",
        strip_comments=True,
    )
    return _REMOTE_SRC.sub(lambda m: f'{m.group(1)} {REMOTE_SRC_ATTRIBUTE}="{m.group(2)}"', cleaned).strip()


def has_visible_content(sanitized: str) -> bool:
    """Whether sanitised HTML (as `sanitize_html` returns it) shows text or an embedded image."""
    if _VISIBLE_IMAGE.search(sanitized):
        return True
    # The sanitiser's output is well-formed, so removing tags leaves exactly the text nodes.
    return bool(html_lib.unescape(_TAG.sub("", sanitized)).strip())


def html_to_text(source: str) -> str:
    """A plain-text rendering of HTML (layout kept roughly: paragraphs, lists, tables)."""
    if not source.strip():
        return ""
    try:
        from inscriptis import get_text
    except ImportError:  # pragma: no cover - inscriptis is a declared dependency
        return _strip_tags(source)
    try:
        text: Any = get_text(source, _inscriptis_config())
    except Exception:  # inscriptis/lxml reject some broken documents
        return _strip_tags(source)
    return _tidy(str(text))


@lru_cache(maxsize=1)
def _inscriptis_config() -> Any:
    from inscriptis.css_profiles import CSS_PROFILES
    from inscriptis.html_properties import Display
    from inscriptis.model.config import ParserConfig
    from inscriptis.model.html_element import HtmlElement

    css = dict(CSS_PROFILES["strict"])
    css["hr"] = HtmlElement(display=Display.block, margin_before=1, margin_after=1)  # a quote often follows
    return ParserConfig(css=css, display_links=False, display_images=False)


def _strip_tags(source: str) -> str:
    import nh3

    text = re.sub(r"(?i)<br\s*/?>|</(?:p|div|tr|li|h[1-6])>", "\n", source)
    return _tidy(
        html_lib.unescape(nh3.clean(text, tags=set(), clean_content_tags={"script", "style", "head"}))
    )


def _tidy(text: str) -> str:
    text = _TRAILING_SPACE.sub("\n", text.replace("\r\n", "\n").replace("\xa0", " "))
    return textwrap.dedent(_BLANK_LINES.sub("\n\n", text)).strip("\n")


def text_to_html(text: str) -> str:
    """Plain text as an HTML fragment (escaped, line breaks kept)."""
    return html_lib.escape(text).replace("\n", "<br>")


def escape_attribute(value: str) -> str:
    """A value safe inside a double-quoted HTML attribute."""
    return html_lib.escape(value, quote=True)
