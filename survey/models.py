"""Database models of the respondent half: surveys, responses, answers, paradata.

A questionnaire file is the source of truth; ``Survey.definition`` keeps the validated
document, and its questions are ``survey.questionnaires.model.Question`` objects rebuilt from
it (``survey.questionnaires.sync.questionnaire_of``), not rows: answers name their question by code.
"""
from __future__ import annotations

import enum
from datetime import date, datetime, timezone
from typing import Any, Optional

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import session
from flask_login import UserMixin

from survey.extensions import db, login


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(moment: datetime) -> datetime:
    """A stored moment as an aware UTC datetime: SQLite hands back naive ones, stored in UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


class SurveyStatus(str, enum.Enum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


class SampleType(str, enum.Enum):
    """How respondents came to be in the sample; only a probability sample has a sampling margin of error."""

    PROBABILITY = "probability"
    OPT_IN_PANEL = "opt_in_panel"
    RIVER = "river"


class ResponseStatus(str, enum.Enum):
    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"
    SCREENED_OUT = "screened_out"


survey_owners = sa.Table(
    "survey_owners",
    db.metadata,
    sa.Column("survey_id", sa.ForeignKey("surveys.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("pollster_id", sa.ForeignKey("pollsters.id", ondelete="CASCADE"), primary_key=True),
)


class Pollster(UserMixin, db.Model):
    __tablename__ = "pollsters"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    email: so.Mapped[str] = so.mapped_column(sa.String(254), unique=True)
    password_hash: so.Mapped[str] = so.mapped_column(sa.String(255))
    # A session is valid while it carries this number; signing out or a new password moves it on.
    session_version: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    created_at: so.Mapped[datetime] = so.mapped_column(sa.DateTime(timezone=True), default=utcnow)

    surveys: so.Mapped[list["Survey"]] = so.relationship(secondary=survey_owners, back_populates="owners")


class Survey(db.Model):
    __tablename__ = "surveys"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    slug: so.Mapped[str] = so.mapped_column(sa.String(100), unique=True)
    title: so.Mapped[dict[str, str]] = so.mapped_column(sa.JSON)
    # Deferred: the document is read only when its parsed form is not cached (survey.questionnaires.sync.questionnaire_of).
    definition: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON, deferred=True)
    source_hash: so.Mapped[str] = so.mapped_column(sa.String(64))
    # The population the survey samples (questionnaire key ``universe``); None when not stated.
    universe: so.Mapped[Optional[str]] = so.mapped_column(sa.String(200))
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default=SurveyStatus.DRAFT.value)
    created_at: so.Mapped[datetime] = so.mapped_column(sa.DateTime(timezone=True), default=utcnow)
    opened_at: so.Mapped[Optional[datetime]] = so.mapped_column(sa.DateTime(timezone=True))
    closed_at: so.Mapped[Optional[datetime]] = so.mapped_column(sa.DateTime(timezone=True))
    # Disclosure items only the pollster knows (survey.reporting.methodology); empty means "not stated".
    sample_type: so.Mapped[Optional[str]] = so.mapped_column(sa.String(16))
    sponsor: so.Mapped[Optional[str]] = so.mapped_column(sa.String(300))
    conducted_by: so.Mapped[Optional[str]] = so.mapped_column(sa.String(300))
    sample_source: so.Mapped[Optional[str]] = so.mapped_column(sa.Text)
    mode: so.Mapped[Optional[str]] = so.mapped_column(sa.String(300))
    interview_languages: so.Mapped[Optional[str]] = so.mapped_column(sa.String(200))
    fieldwork_start: so.Mapped[Optional[date]] = so.mapped_column(sa.Date)
    fieldwork_end: so.Mapped[Optional[date]] = so.mapped_column(sa.Date)

    owners: so.Mapped[list[Pollster]] = so.relationship(secondary=survey_owners, back_populates="surveys")
    responses: so.WriteOnlyMapped["Response"] = so.relationship(back_populates="survey", passive_deletes=True)

    __table_args__ = (
        sa.CheckConstraint("status IN ('draft', 'open', 'closed')", name="status"),
    )

    @property
    def is_open(self) -> bool:
        return self.status == SurveyStatus.OPEN.value


class Invitation(db.Model):
    """A one-time link for a panel member; only a hash of the token is kept."""

    __tablename__ = "invitations"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    survey_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    panel_id: so.Mapped[str] = so.mapped_column(sa.String(128))
    created_at: so.Mapped[datetime] = so.mapped_column(sa.DateTime(timezone=True), default=utcnow)

    __table_args__ = (sa.UniqueConstraint("survey_id", "panel_id", name="uq_invitations_survey_panel"),)


class Response(db.Model):
    """One respondent's pass through a survey.

    ``resume_token_hash`` lets a respondent come back; one invitation has at most one
    response (unique ``invitation_id``), and completion is a conditional UPDATE guarded by
    the ``completed_when_complete`` check, so it happens exactly once.
    """

    __tablename__ = "responses"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    survey_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    invitation_id: so.Mapped[Optional[int]] = so.mapped_column(
        sa.ForeignKey("invitations.id", ondelete="SET NULL"), unique=True
    )
    resume_token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default=ResponseStatus.IN_PROGRESS.value, index=True)
    language: so.Mapped[str] = so.mapped_column(sa.String(8), default="en")
    current_page: so.Mapped[int] = so.mapped_column(default=0)
    option_orders: so.Mapped[dict[str, list[str]]] = so.mapped_column(sa.JSON, default=dict)
    # Duplicate signal, described on the consent page; cleared after BROWSER_HASH_DAYS (`flask expire-paradata`).
    # Nothing derived from the respondent's network address is stored.
    user_agent_hash: so.Mapped[Optional[str]] = so.mapped_column(sa.String(64))
    simulated: so.Mapped[bool] = so.mapped_column(default=False)
    started_at: so.Mapped[datetime] = so.mapped_column(sa.DateTime(timezone=True), default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    completed_at: so.Mapped[Optional[datetime]] = so.mapped_column(sa.DateTime(timezone=True))
    screened_out_by: so.Mapped[Optional[str]] = so.mapped_column(sa.String(64))
    # What the quality rules need of a complete response, stored when it completes so that the
    # fieldwork page's flag counts read one row per response (``survey.responses.quality_facts``).
    duration_seconds: so.Mapped[Optional[float]] = so.mapped_column()
    answers_signature: so.Mapped[Optional[str]] = so.mapped_column(sa.String(64))
    straightlined_items: so.Mapped[Optional[int]] = so.mapped_column()
    attention_failed: so.Mapped[Optional[bool]] = so.mapped_column()
    quality_version: so.Mapped[Optional[str]] = so.mapped_column(sa.String(64))  # the Survey.source_hash they follow

    survey: so.Mapped[Survey] = so.relationship(back_populates="responses")
    answers: so.Mapped[list["Answer"]] = so.relationship(back_populates="response", cascade="all, delete-orphan")
    page_visits: so.Mapped[list["PageVisit"]] = so.relationship(
        back_populates="response", cascade="all, delete-orphan", order_by="PageVisit.id"
    )

    __table_args__ = (
        sa.CheckConstraint("status IN ('in_progress', 'complete', 'screened_out')", name="status"),
        sa.CheckConstraint(
            "(status = 'complete') = (completed_at IS NOT NULL)", name="completed_when_complete"
        ),
    )


class Answer(db.Model):
    """One answer: a code, a list of codes, a number or a text, stored as JSON."""

    __tablename__ = "answers"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    response_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("responses.id", ondelete="CASCADE"), index=True)
    question_code: so.Mapped[str] = so.mapped_column(sa.String(64))
    value: so.Mapped[Any] = so.mapped_column(sa.JSON)
    answered_at: so.Mapped[datetime] = so.mapped_column(sa.DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    response: so.Mapped[Response] = so.relationship(back_populates="answers")

    __table_args__ = (sa.UniqueConstraint("response_id", "question_code", name="uq_answers_response_question"),)


class PageVisit(db.Model):
    """Paradata: when a page was shown and submitted."""

    __tablename__ = "page_visits"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    response_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("responses.id", ondelete="CASCADE"), index=True)
    page: so.Mapped[str] = so.mapped_column(sa.String(64))
    shown_at: so.Mapped[datetime] = so.mapped_column(sa.DateTime(timezone=True))
    submitted_at: so.Mapped[datetime] = so.mapped_column(sa.DateTime(timezone=True), default=utcnow)
    seconds: so.Mapped[float] = so.mapped_column()

    response: so.Mapped[Response] = so.relationship(back_populates="page_visits")


class ApiToken(db.Model):
    """A pollster's bearer token for the JSON API; only a SHA-256 of the token is kept."""

    __tablename__ = "api_tokens"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    pollster_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("pollsters.id", ondelete="CASCADE"), index=True)
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(100))
    created_at: so.Mapped[datetime] = so.mapped_column(sa.DateTime(timezone=True), default=utcnow)
    last_used_at: so.Mapped[Optional[datetime]] = so.mapped_column(sa.DateTime(timezone=True))
    revoked_at: so.Mapped[Optional[datetime]] = so.mapped_column(sa.DateTime(timezone=True))
    expires_at: so.Mapped[Optional[datetime]] = so.mapped_column(sa.DateTime(timezone=True))  # None: never
    # None: every survey the pollster owns; else only this one.
    survey_id: so.Mapped[Optional[int]] = so.mapped_column(sa.ForeignKey("surveys.id", ondelete="CASCADE"))

    pollster: so.Mapped[Pollster] = so.relationship()
    survey: so.Mapped[Optional[Survey]] = so.relationship()


class LoginFailure(db.Model):
    """A failed sign-in, by email (known or not) and keyed hash of the address (``survey.accounts.sign_in``)."""

    __tablename__ = "login_failures"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    email: so.Mapped[str] = so.mapped_column(sa.String(254), index=True)
    address_key: so.Mapped[str] = so.mapped_column(sa.String(64))
    failed_at: so.Mapped[datetime] = so.mapped_column(sa.DateTime(timezone=True), default=utcnow, index=True)


class TargetSet(db.Model):
    """Weighting targets a pollster chose for a survey (uploaded or edited); the newest is in use."""

    __tablename__ = "target_sets"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    survey_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    targets: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON)  # survey.weighting.targets.Targets.to_dict()
    created_by_id: so.Mapped[Optional[int]] = so.mapped_column(sa.ForeignKey("pollsters.id", ondelete="SET NULL"))
    created_at: so.Mapped[datetime] = so.mapped_column(sa.DateTime(timezone=True), default=utcnow)


class WeightingRun(db.Model):
    """One weighting of a survey, kept so any published number can be reproduced.

    ``settings`` holds the targets, method and options; ``exclusion_rules`` the quality rules;
    ``response_ids`` the exact respondents used and ``data_hash`` the SHA-256 of the data file
    (the CSV download) they made at the time. A ``locked`` run cannot be renamed, rerun or
    deleted; the one ``published`` run of a survey (a partial unique index) is what the API
    serves by default, and publishing locks it.
    """

    __tablename__ = "weighting_runs"
    __table_args__ = (
        sa.Index("uq_weighting_runs_published", "survey_id", unique=True,
                 sqlite_where=sa.text("published"), postgresql_where=sa.text("published")),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    survey_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    settings: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON)
    exclusion_rules: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON)
    response_ids: so.Mapped[list[int]] = so.mapped_column(sa.JSON)
    data_hash: so.Mapped[str] = so.mapped_column(sa.String(64))
    # A hash of the run's frame (``survey.weighting.runs.frame_hash``), cheaper to check than
    # ``data_hash``; None for runs made before it was kept.
    frame_hash: so.Mapped[Optional[str]] = so.mapped_column(sa.String(64))
    diagnostics: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON)
    # The survey's disclosure items when the run was made, so a published statement never changes later.
    methodology: so.Mapped[Optional[dict[str, Any]]] = so.mapped_column(sa.JSON)
    name: so.Mapped[Optional[str]] = so.mapped_column(sa.String(100))
    locked: so.Mapped[bool] = so.mapped_column(default=False, server_default=sa.false())
    published: so.Mapped[bool] = so.mapped_column(default=False, server_default=sa.false())
    created_by_id: so.Mapped[Optional[int]] = so.mapped_column(sa.ForeignKey("pollsters.id", ondelete="SET NULL"))
    created_at: so.Mapped[datetime] = so.mapped_column(sa.DateTime(timezone=True), default=utcnow)

    created_by: so.Mapped[Optional[Pollster]] = so.relationship()

    @property
    def title(self) -> str:
        """The run's name, or "Run N" when it has none."""
        return self.name or f"Run {self.id}"


SESSION_VERSION_KEY = "session_version"


@login.user_loader
def load_pollster(pollster_id: str) -> Optional[Pollster]:
    """The signed-in pollster, unless their sessions were ended since this one began (``survey.accounts.sign_in``)."""
    pollster = db.session.get(Pollster, int(pollster_id))
    if pollster is None or session.get(SESSION_VERSION_KEY) != pollster.session_version:
        return None
    return pollster
