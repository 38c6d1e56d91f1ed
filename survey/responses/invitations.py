"""One-time invitation links for panel members: read panel IDs, create tokens, write the links file.

The pollster's upload page and the ``flask invite`` command both go through here. Only a
hash of each token is stored (``survey.responses.tokens.token_hash``), so the file written
once at creation is the only place the links exist.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from flask import url_for

from analysis.export import csv_text
from survey.extensions import db
from survey.models import Invitation, Survey, utcnow
from survey.responses.tokens import new_token, token_hash

MAX_PANEL_ID_LENGTH = 128
MAX_INVITATIONS_PER_UPLOAD = 50_000
BATCH_SIZE = 5_000  # panel IDs per statement: well under PostgreSQL's 65,535 parameters


def read_panel_ids(content: bytes) -> list[str]:
    """Panel IDs from a CSV file (one column, or a column headed ``panel_id``), in file order.

    Raises ValueError naming the row at fault: blank, too long or repeated IDs are refused
    rather than skipped, so the file the panel company sent is used exactly as it is.
    """
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"The file is not UTF-8 text (byte {error.start}); save it as CSV UTF-8.") from error
    reader = csv.reader(io.StringIO(text))
    rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]  # line numbers as in the file
    if not rows:
        raise ValueError("The file has no panel IDs.")
    header = [cell.strip().lower() for cell in rows[0][1]]
    if "panel_id" in header:
        column, body = header.index("panel_id"), rows[1:]
    elif len(header) == 1:
        column, body = 0, rows
    else:
        raise ValueError("The file has several columns; head the column of panel IDs with panel_id.")
    panel_ids: list[str] = []
    seen: dict[str, int] = {}
    for line, row in body:
        panel_id = row[column].strip() if column < len(row) else ""
        if not panel_id:
            raise ValueError(f"Row {line} has no panel ID.")
        if len(panel_id) > MAX_PANEL_ID_LENGTH:
            raise ValueError(f"Row {line}: the panel ID is longer than {MAX_PANEL_ID_LENGTH} characters.")
        if panel_id in seen:
            raise ValueError(f"Row {line} repeats the panel ID {panel_id!r} of row {seen[panel_id]}.")
        seen[panel_id] = line
        panel_ids.append(panel_id)
    if not panel_ids:
        raise ValueError("The file has a panel_id heading but no panel IDs under it.")
    if len(panel_ids) > MAX_INVITATIONS_PER_UPLOAD:
        raise ValueError(f"The file has {len(panel_ids):,} panel IDs; upload at most {MAX_INVITATIONS_PER_UPLOAD:,} "
                         "at a time (split the file; the other parts can follow).")
    return panel_ids


def create_invitations(survey: Survey, panel_ids: Sequence[str]) -> list[tuple[str, str]]:
    """One invitation per panel ID; returns ``(panel_id, token)`` pairs. The caller commits.

    Raises ValueError, storing nothing, if any panel ID already has an invitation to this survey.
    """
    batches = [panel_ids[start:start + BATCH_SIZE] for start in range(0, len(panel_ids), BATCH_SIZE)]
    already = sorted(
        panel_id
        for batch in batches
        for panel_id in db.session.scalars(
            sa.select(Invitation.panel_id).where(Invitation.survey_id == survey.id, Invitation.panel_id.in_(batch))
        )
    )
    if already:
        shown = ", ".join(already[:5]) + (f" and {len(already) - 5} more" if len(already) > 5 else "")
        raise ValueError(f"{len(already)} panel ID(s) already have an invitation to {survey.slug}: {shown}. Nothing was created.")
    created = [(panel_id, new_token()) for panel_id in panel_ids]
    for start in range(0, len(created), BATCH_SIZE):
        db.session.execute(sa.insert(Invitation), [
            {"survey_id": survey.id, "panel_id": panel_id, "token_hash": token_hash(token), "created_at": utcnow()}
            for panel_id, token in created[start:start + BATCH_SIZE]
        ])
    return created


def invitations_csv(created: Iterable[tuple[str, str]]) -> str:
    """The links file: panel_id, token, link; needs a request or ``SERVER_NAME`` for the links."""
    rows = ((panel_id, token, url_for("respond.invitation", token=token, _external=True)) for panel_id, token in created)
    return csv_text(rows, ["panel_id", "token", "link"])
