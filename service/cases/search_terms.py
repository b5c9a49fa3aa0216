"""What a search box's text becomes: words, and the prefixes each word may match by.

Finnish inflects a word's end and often its stem too ("ilmoitus", "ilmoituksen"), and builds
compounds ("muuttoilmoitus"). A stemmer reduces most inflected forms to a shared beginning but
not all of them, so each word matches any indexed word that starts with a shortened form of
it: the word cut by a few letters, and (on PostgreSQL) its Finnish, Swedish and English stems,
each cut by a letter or two. What this finds and misses is measured in tests/unit/test_search_recall.py
and listed in docs/search.md.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

MAX_WORDS = 8
# Shorter words are too common as prefixes; they are matched whole, or left out when the
# search has longer words too.
MIN_WORD = 3
MIN_PREFIX = 4

_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> list[str]:
    found = [w.casefold() for w in _WORD.findall(text)]
    found = [w.replace("_", "") for w in found if w.replace("_", "")]
    longer = [w for w in found if len(w) >= MIN_WORD]
    unique = list(dict.fromkeys(longer or found))
    return unique[:MAX_WORDS]


def cut(word: str) -> str:
    """The beginning of ``word`` that its inflected forms most often share. Numbers and codes
    do not inflect: they are kept whole (still matched as a beginning)."""
    if len(word) <= 5 or not word.isalpha():
        return word
    if len(word) <= 7:
        return word[:max(MIN_PREFIX + 1, len(word) - 2)]
    return word[:max(MIN_PREFIX + 1, len(word) - 3)]


def cut_stem(stem: str) -> str:
    """A stemmer's output, shortened a little: Finnish consonant gradation changes the last
    letters of a stem between forms ("ilmoitus" -> ilmoitus, "ilmoituksen" -> ilmoituks)."""
    if len(stem) >= 8:
        return stem[:-2]
    if len(stem) >= 6:
        return stem[:-1]
    return stem


def prefixes(word: str, stems: list[str] = ()) -> list[str]:
    found = [cut(word)] + [cut_stem(s) for s in stems if s and word.isalpha()]
    # A prefix that another one already starts with adds nothing.
    found = sorted(set(found), key=len)
    kept: list[str] = []
    for p in found:
        if not any(p.startswith(k) for k in kept):
            kept.append(p)
    return kept


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Lower case without diacritics: what FTS5's tokenizer compares (remove_diacritics 2)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def tsquery(groups: list[list[str]]) -> str:
    """PostgreSQL: every word (a group of prefixes) must match, any of its prefixes will do."""
    return " & ".join("(" + " | ".join(f"'{p}':*" for p in group) + ")" for group in groups)


def fts5_query(group: list[str]) -> str:
    """SQLite FTS5: one word, any of its prefixes."""
    return " OR ".join('"' + p.replace('"', '""') + '"*' for p in group)


def _matches(word: str, prefixes: tuple[str, ...], inside: bool) -> bool:
    if inside:
        return any(p in word for p in prefixes)
    return word.startswith(prefixes)


def words_matched(body: str, groups: list[list[str]], *, inside: bool = False) -> int:
    """How many of the search's words (groups) some word of ``body`` starts with (or holds
    anywhere, ``inside``: the end of a compound)."""
    # Its words folded one by one (each word's folding is remembered), joined by spaces.
    folded = " ".join(fold(w) for w in _WORD.findall(body))
    return sum(1 for group in groups if _group_pattern(tuple(group), inside).search(folded))


@lru_cache(maxsize=1024)
def _group_pattern(group: tuple[str, ...], inside: bool) -> re.Pattern:
    # One regular expression over a text's folded words: a page's snippets test a couple of
    # hundred texts, and testing each word against each prefix in Python took twice as long.
    alternatives = "|".join(re.escape(fold(p)) for p in sorted(group, key=len, reverse=True))
    return re.compile(("" if inside else r"(?<!\w)") + f"(?:{alternatives})")


def highlight(body: str, groups: list[list[str]], *, width: int = 24, inside: bool = False) -> dict:
    """A window of about ``width`` words of ``body`` around its first match, with the
    character ranges of the words that match a prefix. Done here rather than by the database
    so that both databases show the same thing."""
    all_prefixes = tuple(fold(p) for group in groups for p in group)
    tokens = list(_WORD.finditer(body))
    matched = [i for i, m in enumerate(tokens) if _matches(fold(m.group()), all_prefixes, inside)]
    first = matched[0] if matched else 0
    start_token = max(0, first - width // 3)
    end_token = min(len(tokens), start_token + width)
    if not tokens:
        return {"text": body[:200], "highlights": []}
    start = 0 if start_token == 0 else tokens[start_token].start()
    end = len(body) if end_token >= len(tokens) else tokens[end_token - 1].end()
    text = body[start:end]
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(body) else ""
    shift = len(prefix) - start
    highlights = [[tokens[i].start() + shift, tokens[i].end() + shift] for i in matched
                  if start_token <= i < end_token]
    # Line breaks become spaces one for one, so the ranges stay right.
    return {"text": (prefix + text + suffix).replace("\r", " ").replace("\n", " "), "highlights": highlights}
