"""Alt text for the figures of a chapter page: each image described by the text it stands under.

nbconvert gives every figure of an executed notebook the alt text "No description has been
provided for this image". :func:`describe_figures` replaces it (and an empty alt) by a caption
read from the page itself: the nearest heading above the image, followed by the first sentence
of the paragraph under that heading when there is one, and "(figure n)" when several figures
stand under the same heading. The build applies it to every chapter page it renders.
"""

from __future__ import annotations

import html
import re

__all__ = ["NBCONVERT_ALT", "MAX_CAPTION", "caption_before", "describe_figures"]

NBCONVERT_ALT = "No description has been provided for this image"
MAX_CAPTION = 240  # characters of a caption, at most (a longer sentence is cut at a word)

_HEADING = re.compile(r"<h([1-6])\b[^>]*>(.*?)</h\1>", re.I | re.S)
_PARAGRAPH = re.compile(r"<p\b[^>]*>(.*?)</p>", re.I | re.S)
_IMG = re.compile(r"<img\b[^>]*>", re.I)
_ALT = re.compile(r"""\balt\s*=\s*("[^"]*"|'[^']*')""", re.I)
_TAG = re.compile(r"<[^>]+>")
_ANCHOR = re.compile(r"<a\b[^>]*class=\"anchor-link\"[^>]*>.*?</a>", re.I | re.S)


def _text(fragment: str) -> str:
    """The plain text of an HTML fragment, whitespace collapsed."""
    return " ".join(html.unescape(_TAG.sub(" ", _ANCHOR.sub("", fragment))).split())


def _first_sentence(text: str) -> str:
    m = re.match(r"(.+?[.!?])(\s|$)", text)
    sentence = m.group(1) if m else text
    if len(sentence) > MAX_CAPTION:
        sentence = sentence[:MAX_CAPTION].rsplit(" ", 1)[0] + " ..."
    return sentence


def caption_before(page: str, position: int) -> tuple[str, int]:
    """(caption, start of its heading; -1 if none) for an image at ``position`` of ``page``."""
    headings = [m for m in _HEADING.finditer(page, 0, position)]
    if not headings:
        return "", -1
    h = headings[-1]
    caption = _text(h.group(2))
    para = _PARAGRAPH.search(page, h.end(), position)
    if para and not _HEADING.search(page, h.end(), para.start()):
        sentence = _first_sentence(_text(para.group(1)))
        if sentence:
            caption = f"{caption}: {sentence}" if caption else sentence
    return caption, h.start()


def describe_figures(page: str, default: str = "Figure") -> str:
    """``page`` with every image whose alt text is nbconvert's placeholder (or empty or missing)
    given a caption (:func:`caption_before`; ``default`` where no heading precedes it)."""
    counts: dict[int, int] = {}
    total: dict[int, int] = {}
    found = []
    for m in _IMG.finditer(page):
        alt = _ALT.search(m.group(0))
        value = html.unescape(alt.group(1)[1:-1]).strip() if alt else ""
        if value and value != NBCONVERT_ALT:
            continue
        caption, key = caption_before(page, m.start())
        total[key] = total.get(key, 0) + 1
        found.append((m, alt, caption, key))
    out, last = [], 0
    for m, alt, caption, key in found:
        counts[key] = counts.get(key, 0) + 1
        text = caption or default
        if total[key] > 1:
            text += f" (figure {counts[key]} of {total[key]})"
        attr = f'alt="{html.escape(text, quote=True)}"'
        tag = m.group(0)
        if alt:
            tag = tag[: alt.start()] + attr + tag[alt.end() :]
        else:
            tag = re.sub(r"^<img\b", f"<img {attr}", tag, flags=re.I)
        out += [page[last : m.start()], tag]
        last = m.end()
    return "".join(out + [page[last:]])
