"""The pollster's forms; every one carries a CSRF token (Flask-WTF)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired, FileSize
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, ValidationError

from survey.responses.invitations import read_panel_ids

MAX_UPLOAD_BYTES = 5 * 1024 * 1024


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

    panel_ids_csv = FileField(
        "CSV of panel IDs",
        validators=[
            FileRequired(message="Choose a CSV file of panel IDs."),
            FileSize(MAX_UPLOAD_BYTES, message="The file is over 5 MB; split it into several uploads."),
        ],
    )
    submit = SubmitField("Create invitations")

    panel_ids: list[str]

    def validate_panel_ids_csv(self, field) -> None:
        try:
            self.panel_ids = read_panel_ids(field.data.read())
        except ValueError as error:
            raise ValidationError(str(error)) from error
