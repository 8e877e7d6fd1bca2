"""Sentences and passages as character offsets into the article text, never as copies.

Offsets are what keep every quote verbatim: a passage is ``text[start:end]`` and a quote is a run
of whole sentences inside it. The splitter is rule-based (fast enough for a million passages):
terminal punctuation followed by space and a non-lowercase start, except after abbreviations and
initials; a blank line; and a line that stands alone as a headline ("READ: Iran opens ...").
"""

from __future__ import annotations

import re
import struct
import sys
from array import array

MAX_SENTENCE = 1000
"""Longer 'sentences' (tables, text without punctuation) are cut at a space so quotes stay short."""

ABBREVIATIONS = frozenset(
    """
    mr mrs ms dr prof sen rep gov gen col lt sgt capt cmdr adm maj st jr sr rev hon pres
    inc ltd co corp plc llc bros dept univ assn est fig no vol pp ed eds approx
    vs etc e.g i.e cf al jan feb mar apr jun jul aug sep sept oct nov dec mt ft
    """.split()
)

# Where a sentence may end: a line break, or terminal punctuation whose first character is
# followed by the rest of the run, any closing quotes and then "space". The character class
# first lets the scanner skip in C to the characters that can end a sentence (a leading
# lookahead, or alternatives that open with groups, make it try a match at every position).
_AFTER_PUNCT = r"[.!?…]*[”\"’'»)\]]*(?P<space>\s+)"
_BOUNDARY = re.compile(rf"[.!?…\n](?:(?<=\n)|{_AFTER_PUNCT})")
_WRAPPED_BOUNDARY = re.compile(rf"[.!?…\n](?:(?<=\n)(?=[ \t]*\n)|(?<=[.!?…]){_AFTER_PUNCT})")
"""In hard-wrapped text only a blank line ends a sentence at a line break: the scanner skips
the other line breaks rather than the loop turning once for each."""
_INITIALS = re.compile(r"^(?:[A-Za-z]\.)*[A-Za-z]$")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_SPACE = re.compile(r"\s*")
_WRAPPED_LINE = re.compile(r"\n(?<=[^\s.!?:;”\"’')\]]\n)[ \t]*[a-z]")
_OPENERS = "“\"‘'([«"


def _hard_wrapped(text: str) -> bool:
    """Text wrapped at a fixed width (wire copy) breaks lines mid-sentence: no headlines there."""
    breaks = text.count("\n")
    return breaks > 2 and len(_WRAPPED_LINE.findall(text)) * 5 > breaks


_LONGEST = max(map(len, ABBREVIATIONS))


def _is_abbreviation(text: str, dot: int) -> bool:
    """Is the word before this full stop an abbreviation or an initial (Mr., U.S., J.)?"""
    if dot > _LONGEST and text[dot - _LONGEST - 1 : dot].isalpha():
        return False  # the usual case, decided cheaply: too long for an abbreviation, and
        # initials alternate letters and full stops
    space = text.rfind(" ", max(0, dot - _LONGEST - 1), dot)
    word = text[space + 1 : dot]
    if space >= 0 and word.isalpha():  # the next most usual: a short word after a space
        return word.lower() in ABBREVIATIONS or (len(word) == 1 and word.isascii())
    words = text[max(0, dot - 24) : dot].rsplit(None, 1)
    word = words[-1].lstrip(_OPENERS) if words else ""
    if word.lower() in ABBREVIATIONS:
        return True
    if "." in word:  # U.S., J.R.
        return bool(_INITIALS.match(word))
    return len(word) == 1 and word.isascii() and word.isalpha()  # J


def _starts_sentence(ch: str) -> bool:
    return not ch.islower()


def _line_stands_alone(text: str, sentence_start: int, newline: int) -> bool:
    """A line that began a sentence and ends without punctuation is a headline or list item."""
    line_start = text.rfind("\n", 0, newline) + 1
    if text[line_start:sentence_start].strip():
        return False
    rest = text[newline + 1 : newline + 200].lstrip()
    if not rest or not _starts_sentence(rest[0]):
        return False
    return not text[sentence_start:newline].rstrip().endswith((",", ";", ":", "-", "–"))


def _cut_long(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans = []
    while end - start > MAX_SENTENCE:
        cut = text.rfind(" ", start + MAX_SENTENCE // 2, start + MAX_SENTENCE)
        if cut <= start:
            cut = start + MAX_SENTENCE
        piece_end = cut
        while piece_end > start and text[piece_end - 1].isspace():
            piece_end -= 1
        spans.append((start, piece_end))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if start < end:
        spans.append((start, end))
    return spans


def sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans ``(start, end)`` with surrounding white space trimmed."""
    spans: list[tuple[int, int]] = []
    start = 0
    headlines = not _hard_wrapped(text)

    def close(end: int) -> None:
        s, e = start, end  # trimmed in place: copying each sentence to strip it costs more
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s < e:
            if e - s > MAX_SENTENCE:
                spans.extend(_cut_long(text, s, e))
            else:
                spans.append((s, e))

    for m in (_BOUNDARY if headlines else _WRAPPED_BOUNDARY).finditer(text):
        space = m.start(1)
        if space < 0:  # a line break
            pos = m.start()
            if _BLANK_LINE.match(text, pos) or (
                headlines and _line_stands_alone(text, _SPACE.match(text, start).end(), pos)
            ):
                close(pos)
                start = pos + 1
            continue
        after = m.end()
        following = text[after : after + 1]
        if following.islower():  # not a sentence start
            continue
        if (
            space == m.start() + 1  # a lone full stop, no closing quote
            and following
            and text[space - 1] == "."
            and "\n" not in text[space:after]
            and _is_abbreviation(text, space - 1)  # the costly test last
        ):
            continue
        if start < space - MAX_SENTENCE or text[start].isspace():
            close(space)  # the rare cases: trimming or cutting needed
        elif start < space:  # the usual case: a match ends before a sentence start
            spans.append((start, space))
        start = after
    close(len(text))
    return spans


def windows(
    spans: list[tuple[int, int]], *, size: int = 6, overlap: int = 2, max_chars: int = 1600
) -> list[tuple[int, int]]:
    """Overlapping runs of whole sentences, up to ``size`` sentences or ``max_chars``, as index
    ranges ``[i, j)`` into ``spans``."""
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(spans):
        j = i + 1
        while j < len(spans) and j - i < size and spans[j][1] - spans[i][0] <= max_chars:
            j += 1
        out.append((i, j))
        if j >= len(spans):
            break
        i = max(i + 1, j - overlap)
    return out


def passages(text: str, **window: int) -> list[tuple[int, int]]:
    """Passage spans ``(start, end)``: see ``windows`` for their size."""
    spans = sentences(text)
    return [(spans[i][0], spans[j - 1][1]) for i, j in windows(spans, **window)]


def chunk(text: str) -> list[tuple[int, int, bytes | None]]:
    """Passages with their sentences packed (``pack``): stored with the passage, they spare
    every question the work of splitting its candidate passages again."""
    spans = sentences(text)
    return [
        (spans[i][0], spans[j - 1][1], pack(spans[i:j], spans[i][0])) for i, j in windows(spans)
    ]


def pack(spans: list[tuple[int, int]], base: int) -> bytes | None:
    """Sentence spans relative to ``base`` as little-endian uint16 pairs (None if one is too
    far for 16 bits, which a passage's size limit rules out in practice)."""
    # An array rather than struct.pack: 40% less time, one call per passage of every ingest.
    flat = array("H")
    try:
        for start, end in spans:
            flat.append(start - base)
            flat.append(end - base)
    except OverflowError:
        return None
    if not flat:
        return None
    if sys.byteorder == "big":
        flat.byteswap()
    return flat.tobytes()


def unpack(packed: bytes) -> list[tuple[int, int]]:
    """The spans ``pack`` stored, relative to the passage's start."""
    flat = struct.unpack(f"<{len(packed) // 2}H", packed)
    return list(zip(flat[::2], flat[1::2], strict=True))
