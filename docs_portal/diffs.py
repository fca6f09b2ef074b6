"""What changed between two revisions of a page, for the history page.

Line-based (difflib), in hunks with three lines of context like `diff -u`. The template
shows each row as text (escaped by Django) inside <ins> or <del>; nothing here is HTML.
"""

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class DiffRow:
    kind: str  # "hunk", "context", "added", "removed"
    old_no: int | None
    new_no: int | None
    text: str


@dataclass(frozen=True)
class FieldChange:
    label: str
    old: str
    new: str


def diff_lines(old: str, new: str, *, context: int = 3) -> list[DiffRow]:
    a, b = (old or "").splitlines(), (new or "").splitlines()
    rows: list[DiffRow] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        first, last = group[0], group[-1]
        rows.append(
            DiffRow(
                "hunk",
                None,
                None,
                f"@@ -{first[1] + 1},{last[2] - first[1]} +{first[3] + 1},{last[4] - first[3]} @@",
            )
        )
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                rows.extend(DiffRow("context", i1 + k + 1, j1 + k + 1, a[i1 + k]) for k in range(i2 - i1))
                continue
            if tag in ("replace", "delete"):
                rows.extend(DiffRow("removed", i + 1, None, a[i]) for i in range(i1, i2))
            if tag in ("replace", "insert"):
                rows.extend(DiffRow("added", None, j + 1, b[j]) for j in range(j1, j2))
    return rows


def field_changes(old, new) -> list[FieldChange]:
    """Title, visibility and status changes between two revisions."""
    changes = []
    if old.title != new.title:
        changes.append(FieldChange("Title", old.title, new.title))
    if old.visibility != new.visibility:
        changes.append(FieldChange("Visibility", old.get_visibility_display(), new.get_visibility_display()))
    if old.status != new.status:
        changes.append(FieldChange("Status", old.get_status_display(), new.get_status_display()))
    return changes
