"""The working copy of a dataset being edited: its rows, the revision it started from, unsaved changes.

Kept per dataset in session state (`ds_drafts`) so switching datasets never drops edits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from workbench.data import formats, repository
from workbench.data.records import row_text


@dataclass
class Draft:
    name: str
    format: str
    base: int
    rows: list[dict]
    dirty: bool = False
    version: int = 0
    _problems: tuple[int, list] | None = field(default=None, repr=False)
    _texts: tuple[int, list[str]] | None = field(default=None, repr=False)

    def touch(self) -> None:
        self.dirty = True
        self.version += 1

    @property
    def file(self) -> str:
        return f"{self.name}.jsonl"

    def problems(self) -> list[formats.Problem]:
        """Validation of the working copy, recomputed only after a change."""
        if self._problems is None or self._problems[0] != self.version:
            self._problems = (self.version, formats.validate_rows(self.rows, self.format, self.file))
        return self._problems[1]

    def search_texts(self) -> list[str]:
        if self._texts is None or self._texts[0] != self.version:
            self._texts = (self.version, [row_text(r, self.format).lower() for r in self.rows])
        return self._texts[1]


def drafts() -> dict[str, Draft]:
    return st.session_state.setdefault("ds_drafts", {})


def get_draft(name: str) -> Draft:
    known = drafts()
    if name not in known:
        known[name] = load_draft(name)
    return known[name]


def load_draft(name: str) -> Draft:
    info = repository.get_dataset(name)
    rows = repository.read_revision_rows(info.latest)
    draft = Draft(name=name, format=info.format, base=info.latest.n, rows=rows)
    drafts()[name] = draft
    return draft


def forget_draft(name: str) -> None:
    drafts().pop(name, None)


def save_draft(draft: Draft, note: str) -> repository.Revision:
    revision = repository.save_rows(draft.name, draft.rows, draft.base, note=note)
    draft.base = revision.n
    draft.dirty = False
    draft.version += 1
    return revision
