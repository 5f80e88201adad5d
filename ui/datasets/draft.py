"""The working copy of a dataset being edited: its rows, the revision it started from, unsaved changes.

Kept per dataset in session state (`ds_drafts`) so switching datasets never drops edits, and on disk
(workbench/data/unsaved.py) so a reload, a closed tab or a server restart does not either.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from workbench.data import formats, repository, unsaved
from workbench.data.records import row_text


@dataclass
class Draft:
    name: str
    format: str
    base: int
    rows: list[dict]
    dirty: bool = False
    version: int = 0
    restored: str = ""  # when the unsaved edits it holds were written, if they came back from disk
    kept_version: int = -1  # the version last written to disk
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
    """The dataset as saved, or with the unsaved edits kept on disk (from the revision they started from: an
    older one than the latest makes the save a conflict, which offers a copy)."""
    info = repository.get_dataset(name)
    kept = unsaved.read(name)
    if kept is not None:
        draft = Draft(name, info.format, kept.base, kept.rows, dirty=True, restored=kept.kept or "earlier")
        draft.kept_version = draft.version
    else:
        draft = Draft(
            name=name, format=info.format, base=info.latest.n, rows=repository.read_revision_rows(info.latest)
        )
    drafts()[name] = draft
    return draft


def discard_draft(name: str) -> Draft:
    unsaved.drop(name)
    return load_draft(name)


def forget_draft(name: str) -> None:
    """Drop the working copy and its kept edits (the dataset was replaced, by an import)."""
    unsaved.drop(name)
    drafts().pop(name, None)


def keep_unsaved(draft: Draft) -> None:
    """Write the unsaved edits to disk when they changed since the last write (called once a page run is drawn)."""
    if draft.dirty and draft.kept_version != draft.version:
        try:
            unsaved.keep(draft.name, draft.base, draft.rows)
        except OSError as exc:  # a full disk: the edits stay in this session, and the user is told
            st.warning(
                f"Your unsaved edits could not be kept on disk ({exc.strerror or exc}): they last only as long as "
                "this tab. Free some space, or save them now.",
                icon=":material/warning:",
            )
            return
        draft.kept_version = draft.version


def save_draft(draft: Draft, note: str) -> repository.Revision:
    revision = repository.save_rows(draft.name, draft.rows, draft.base, note=note)
    unsaved.drop(draft.name)
    draft.base = revision.n
    draft.dirty = False
    draft.restored = ""
    draft.version += 1
    return revision
