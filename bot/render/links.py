"""Which links in an answer stay clickable (issue 12, point 3).

A link is kept only when its scheme is http or https (tg:// only where the bot wrote it itself) and its
address appears in the documents that were sent to the model. Anything else (an address the model
made up, a `javascript:` link, a look-alike login page a web page planted) is shown as text. Kept links
are shown with their domain, so the reader sees where a link goes before tapping it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

# An address in a document: scheme, then anything up to whitespace or a character that cannot end it.
_URL_RE = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?»”’"


def _normalise(url: str) -> str:
    return url.strip().rstrip("/").lower()


def urls_in(texts: Iterable[str]) -> frozenset[str]:
    """Every http(s) address written in these texts (with and without trailing punctuation)."""
    found: set[str] = set()
    for text in texts:
        for match in _URL_RE.finditer(text):
            url = match.group(0)
            found.add(_normalise(url))
            trimmed = url.rstrip(_TRAILING)
            # An address in prose may end with ")" that belongs to the sentence, or to the URL.
            found.add(_normalise(trimmed))
            if trimmed.endswith(")") and trimmed.count("(") < trimmed.count(")"):
                found.add(_normalise(trimmed[:-1]))
    return frozenset(found)


@dataclass(frozen=True)
class LinkPolicy:
    """`enabled=False` (the setting `ANSWER_LINKS`) turns every link into text."""

    allowed: frozenset[str] = frozenset()
    enabled: bool = True
    bot_made: frozenset[str] = frozenset()  # tg:// addresses the bot itself put in the text

    def keeps(self, url: str) -> bool:
        if not self.enabled:
            return False
        scheme = _scheme_of(url)
        if scheme == "tg":
            return url in self.bot_made
        if scheme not in ("http", "https") or not domain_of(url):
            return False
        return _normalise(url) in self.allowed

    @classmethod
    def from_documents(cls, contents: Iterable[str], *, enabled: bool = True) -> LinkPolicy:
        """Links are allowed exactly when their address is in one of the documents sent to the model."""
        return cls(allowed=urls_in(contents), enabled=enabled)


@functools.lru_cache(maxsize=4096)  # an answer repeats its addresses across forms and parts
def domain_of(url: str) -> str:
    """The host a link leads to, as the reader should see it ("example.com"); "" if there is none."""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


@functools.lru_cache(maxsize=4096)
def _scheme_of(url: str) -> str:
    try:
        return urlsplit(url.strip()).scheme.lower() if ":" in url else ""
    except ValueError:
        return ""
