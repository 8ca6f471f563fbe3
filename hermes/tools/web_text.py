"""Readable text from a web page, with the standard library's html.parser.

What a reader would see: the title, then the main text with headings, paragraphs and list items on
their own lines. Scripts, styles, navigation, sidebars, footers, forms' widgets and hidden elements
are dropped. When the page marks its main content (`<main>`, `<article>`, `role="main"`) and that
holds a fair share of the text, only that is kept, which drops most of the remaining boilerplate.
"""

from __future__ import annotations

import codecs
import re
from html.parser import HTMLParser

_SKIP = frozenset(
    {
        "script", "style", "noscript", "template", "svg", "math", "iframe", "object", "canvas",
        "nav", "aside", "footer", "button", "select", "datalist", "dialog",
    }
)  # fmt: skip
_SKIP_ROLES = frozenset(
    {"navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar", "dialog"}
)
_MAIN = frozenset({"main", "article"})
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)
_BLOCK = frozenset(
    {
        "address", "blockquote", "body", "caption", "dd", "details", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "header", "hgroup", "hr", "main", "article", "ol",
        "section", "summary", "table", "tbody", "thead", "tfoot", "tr", "ul", "pre",
    }
)  # fmt: skip
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_BLANK_LINES = re.compile(r"\n{3,}")
_SPACES = re.compile(r"\s+")

# The main-content text is used instead of the whole page's when it is at least this long or at
# least this share of the whole; a page with a short teaser <article> keeps all its text.
_MAIN_MIN_CHARS = 500
_MAIN_MIN_SHARE = 0.25


class _Readable(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self._in_title = False
        self._skip: list[str] = []  # open elements whose content is dropped
        self._main: list[str] = []  # open main-content elements
        self._pre = 0
        self._all: list[str] = []
        self._main_text: list[str] = []

    def _skipped(self, tag: str, attrs: dict[str, str | None]) -> bool:
        if tag in _SKIP or (attrs.get("role") or "").lower() in _SKIP_ROLES:
            return True
        if tag == "header" and not self._main:  # the site's header, not an article's
            return True
        if "hidden" in attrs or (attrs.get("aria-hidden") or "").lower() == "true":
            return True
        return bool(_HIDDEN_STYLE.search(attrs.get("style") or ""))

    def handle_starttag(self, tag: str, attr_list: list[tuple[str, str | None]]) -> None:
        if self._skip:
            if tag not in _VOID:
                self._skip.append(tag)
            return
        attrs = dict(attr_list)
        if tag not in _VOID and self._skipped(tag, attrs):
            self._skip.append(tag)
            return
        if tag == "title" and not self.title:
            self._in_title = True
        elif tag in _MAIN or (attrs.get("role") or "").lower() == "main":
            self._main.append(tag)
        if tag == "pre":
            self._pre += 1
        self._emit_break(tag, start=True)

    def handle_endtag(self, tag: str) -> None:
        if self._skip:
            _close(self._skip, tag)
            return
        if tag == "title":
            self._in_title = False
        _close(self._main, tag)
        if tag == "pre" and self._pre:
            self._pre -= 1
        self._emit_break(tag, start=False)

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._in_title:
            self.title = _SPACES.sub(" ", self.title + data).strip()
            return
        if not self._pre:
            data = _SPACES.sub(" ", data)
            if not self._all or self._all[-1][-1:].isspace():
                data = data.lstrip()
        self._write(data)

    def _emit_break(self, tag: str, *, start: bool) -> None:
        if tag in _HEADINGS:
            self._write(f"\n\n{'#' * _HEADINGS[tag]} " if start else "\n\n")
        elif tag == "p":
            self._write("\n\n")
        elif tag == "li" and start:
            self._write("\n- ")
        elif tag in _BLOCK or tag == "br":
            self._write("\n")
        elif tag in ("td", "th") and start:
            self._write(" ")

    def _write(self, text: str) -> None:
        if text:
            self._all.append(text)
            if self._main:
                self._main_text.append(text)

    def text(self) -> str:
        whole = _tidy("".join(self._all))
        main = _tidy("".join(self._main_text))
        if main and (len(main) >= _MAIN_MIN_CHARS or len(main) >= _MAIN_MIN_SHARE * len(whole)):
            return main
        return whole


def _close(stack: list[str], tag: str) -> None:
    """Close `tag` and anything left open inside it; a stray end tag changes nothing."""
    if tag in stack:
        del stack[len(stack) - 1 - stack[::-1].index(tag) :]


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip("\n")


def html_to_text(html: str) -> tuple[str, str]:
    """The page's (title, readable text)."""
    parser = _Readable()
    parser.feed(html)
    parser.close()
    return parser.title, parser.text()


def decode(body: bytes, charset: str | None, *, html: bool) -> str:
    """Text of a body: the BOM, else the declared charset, else an HTML <meta> charset, else
    UTF-8; undecodable bytes become U+FFFD rather than an error."""
    for bom, name in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16")):
        if body.startswith(bom) or (name == "utf-16" and body.startswith(codecs.BOM_UTF16_BE)):
            return body.decode(name, errors="replace")
    if not charset and html:
        found = _META_CHARSET.search(body[:4096])
        charset = found.group(1).decode("ascii") if found else None
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # a charset name Python does not know
        return body.decode("utf-8", errors="replace")


class DuckDuckGoPage(HTMLParser):
    """The results of DuckDuckGo's HTML page: `a.result__a` (title, link) and `.result__snippet`."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[list[str]] = []  # [title, href, snippet]
        self._field: str | None = None  # "title" or "snippet" while inside one
        self._tag = ""
        self._depth = 0  # nested elements named like the one being read
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._field is not None:
            if tag == self._tag:
                self._depth += 1
            return
        found = dict(attrs)
        classes = (found.get("class") or "").split()
        if tag == "a" and "result__a" in classes:
            self.found.append(["", found.get("href") or "", ""])
            self._field, self._tag, self._text = "title", tag, []
        elif "result__snippet" in classes and self.found:
            self._field, self._tag, self._text = "snippet", tag, []

    def handle_endtag(self, tag: str) -> None:
        if self._field is None or tag != self._tag:
            return
        if self._depth:
            self._depth -= 1
            return
        self.found[-1][0 if self._field == "title" else 2] = "".join(self._text)
        self._field = None

    def handle_data(self, data: str) -> None:
        if self._field is not None:
            self._text.append(data)
