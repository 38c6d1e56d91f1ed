"""The pollster's forms; every one carries a CSRF token (Flask-WTF)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired, FileSize
from wtforms import PasswordField, SelectChoice, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from survey.accounts.passwords import MIN_PASSWORD_LENGTH
from survey.responses.invitations import read_panel_ids

MAX_UPLOAD_BYTES = 5 * 1024 * 1024


class LoginForm(FlaskForm):
    email = StringField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    submit = SubmitField("Sign in")


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired(), Length(max=1024)])
    new_password = PasswordField("New password", validators=[
        DataRequired(),
        Length(min=MIN_PASSWORD_LENGTH, max=1024, message=f"Use at least {MIN_PASSWORD_LENGTH} characters."),
    ])
    repeat = PasswordField("New password again", validators=[
        DataRequired(), EqualTo("new_password", message="The two new passwords differ."),
    ])
    submit = SubmitField("Change password")


class ActionForm(FlaskForm):
    """A button that changes something (sign out, open, close, revoke): only the CSRF token."""


class ApiTokenForm(FlaskForm):
    """``survey`` offers the pollster's own surveys; the view fills its choices."""

    name = StringField(
        "Name",
        validators=[DataRequired(message="Give the token a name, e.g. the script or person that will use it."), Length(max=100)],
    )
    expires_in_days = SelectField("Valid for", choices=[
        SelectChoice(value, label) for value, label in
        (("", "until revoked"), ("7", "7 days"), ("30", "30 days"), ("90", "90 days"), ("365", "a year"))
    ], default="")
    survey = SelectField("Surveys", choices=[SelectChoice("", "all your surveys")], default="")
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
