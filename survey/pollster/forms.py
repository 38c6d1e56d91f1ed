"""The pollster's forms; every one carries a CSRF token (Flask-WTF)."""
from __future__ import annotations

import csv
import io

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, ValidationError

MAX_PANEL_ID_LENGTH = 128


class LoginForm(FlaskForm):
    email = StringField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    submit = SubmitField("Sign in")


class ActionForm(FlaskForm):
    """A button that changes something (sign out, open, close, revoke): only the CSRF token."""


class ApiTokenForm(FlaskForm):
    name = StringField(
        "Name",
        validators=[DataRequired(message="Give the token a name, e.g. the script or person that will use it."), Length(max=100)],
    )
    submit = SubmitField("Create token")


class InvitationUploadForm(FlaskForm):
    """A CSV of panel IDs: one column, or a column headed ``panel_id``."""

    panel_ids_csv = FileField("CSV of panel IDs", validators=[FileRequired(message="Choose a CSV file of panel IDs.")])
    submit = SubmitField("Create invitations")

    panel_ids: list[str]

    def validate_panel_ids_csv(self, field) -> None:
        self.panel_ids = read_panel_ids(field.data.read())


def read_panel_ids(content: bytes) -> list[str]:
    """Panel IDs from a CSV file, in file order; raises ValidationError naming the row at fault."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValidationError(f"The file is not UTF-8 text (byte {error.start}); save it as CSV UTF-8.") from error
    rows = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    if not rows:
        raise ValidationError("The file has no panel IDs.")
    header = [cell.strip().lower() for cell in rows[0]]
    if "panel_id" in header:
        column, first_row, body = header.index("panel_id"), 2, rows[1:]
    elif len(header) == 1:
        column, first_row, body = 0, 1, rows
    else:
        raise ValidationError("The file has several columns; head the column of panel IDs with panel_id.")
    panel_ids: list[str] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(body, start=first_row):
        panel_id = row[column].strip() if column < len(row) else ""
        if not panel_id:
            raise ValidationError(f"Row {line} has no panel ID.")
        if len(panel_id) > MAX_PANEL_ID_LENGTH:
            raise ValidationError(f"Row {line}: the panel ID is longer than {MAX_PANEL_ID_LENGTH} characters.")
        if panel_id in seen:
            raise ValidationError(f"Row {line} repeats panel ID {panel_id!r} from row {seen[panel_id]}.")
        seen[panel_id] = line
        panel_ids.append(panel_id)
    if not panel_ids:
        raise ValidationError("The file has a panel_id heading but no panel IDs under it.")
    return panel_ids
