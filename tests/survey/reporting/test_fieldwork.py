"""Fieldwork figures from seeded responses, opening and closing, invitations from a CSV upload."""
import csv
import hashlib
import io
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from survey.extensions import db
from survey.models import Answer, Invitation, PageVisit, Response, Survey
from survey.reporting.fieldwork import fieldwork_summary
from survey.responses.dataset import attention_checks

EMAIL = "ana@example.org"
NOW = datetime.now(timezone.utc).replace(microsecond=0)
DAY_ONE = NOW - timedelta(days=2)


def seed_responses(survey: Survey) -> None:
    """6 complete (2 on day one, 4 two days later; one a speeder, one failing the attention check),
    2 screened out, 3 in progress (2 idle for hours), 4 invitations of which 3 are used."""
    (check, accepted), = attention_checks(survey).items()
    invitations = [Invitation(survey_id=survey.id, panel_id=f"p{i}", token_hash=f"{i:064d}") for i in range(4)]
    db.session.add_all(invitations)
    db.session.flush()
    seconds = [600, 620, 580, 610, 590, 60]  # the last is under 40% of the median
    for i, spent in enumerate(seconds):
        completed = (DAY_ONE if i < 2 else NOW) - timedelta(minutes=i)
        response = Response(
            survey_id=survey.id, resume_token_hash=f"c{i}", status="complete", completed_at=completed,
            started_at=completed - timedelta(seconds=spent), invitation_id=invitations[i].id if i < 3 else None,
        )
        response.answers = [Answer(question_code=check, value="strongly_agree" if i == 4 else next(iter(accepted)))]
        response.page_visits = [
            PageVisit(page="p1", shown_at=completed - timedelta(seconds=spent), submitted_at=completed, seconds=spent)
        ]
        db.session.add(response)
    db.session.add_all(
        Response(survey_id=survey.id, resume_token_hash=f"s{i}", status="screened_out", screened_out_by="age") for i in range(2)
    )
    for i, idle in enumerate([timedelta(hours=3), timedelta(hours=2), timedelta(minutes=5)]):
        db.session.add(
            Response(survey_id=survey.id, resume_token_hash=f"p{i}", started_at=NOW - idle, updated_at=NOW - idle)
        )
    db.session.commit()


@pytest.fixture
def seeded(app, default_survey, make_pollster):
    make_pollster(EMAIL, default_survey)
    with app.app_context():
        seed_responses(db.session.scalar(sa.select(Survey).where(Survey.slug == default_survey)))
    return default_survey


def test_fieldwork_counts_for_seeded_responses(app, seeded):
    with app.app_context():
        survey = db.session.scalar(sa.select(Survey).where(Survey.slug == seeded))
        summary = fieldwork_summary(survey, now=NOW)
    assert (summary.started, summary.completed, summary.screened_out, summary.in_progress) == (11, 6, 2, 3)
    assert summary.broken_off == 2
    assert summary.eligible == 9
    assert summary.completion_rate == pytest.approx(6 / 9)
    assert summary.breakoff_rate == pytest.approx(2 / 9)
    assert (summary.invitations, summary.invitations_used, summary.invitations_unused) == (4, 3, 1)
    assert summary.completions_by_day == ((DAY_ONE.date(), 2), ((DAY_ONE + timedelta(days=1)).date(), 0), (NOW.date(), 4))
    assert summary.quality_flags["speeder"] == 1
    assert summary.quality_flags["attention_failed"] == 1
    assert summary.excluded_by_quality == 2


def test_fieldwork_page_shows_the_counts_and_a_chart(client, seeded, sign_in):
    sign_in(client, EMAIL)
    page = client.get(f"/pollster/surveys/{seeded}/fieldwork").get_data(as_text=True)
    assert "<dt>Completed</dt><dd>6</dd>" in page
    assert "<dt>Screened out</dt><dd>2</dd>" in page
    assert "<dt>Partial (in progress)</dt><dd>3</dd>" in page
    assert "<dt>Excluded by quality rules</dt><dd>2</dd>" in page
    assert "<dt>Completion rate</dt><dd>66.7%</dd>" in page
    assert "<dt>Break-off rate</dt><dd>22.2%</dd>" in page
    assert "<dt>Unused</dt><dd>1</dd>" in page
    assert f"<title>{NOW.date().isoformat()}: 4</title>" in page
    assert "<script" not in page.split("</head>")[1]  # the chart needs no JavaScript


def test_dashboard_lists_only_owned_surveys(app, client, seeded, make_pollster, sign_in):
    with app.app_context():
        db.session.add(Survey(slug="someone-elses", title={"en": "Not yours"}, definition={}, source_hash="x"))
        db.session.commit()
    sign_in(client, EMAIL)
    page = client.get("/pollster/").get_data(as_text=True)
    assert seeded in page
    assert "someone-elses" not in page


def test_open_and_close_a_survey(app, client, seeded, sign_in):
    sign_in(client, EMAIL)
    assert client.post(f"/pollster/surveys/{seeded}/status/open").status_code == 302
    with app.app_context():
        survey = db.session.scalar(sa.select(Survey).where(Survey.slug == seeded))
        assert survey.status == "open" and survey.opened_at is not None and survey.closed_at is None
    client.post(f"/pollster/surveys/{seeded}/status/closed")
    with app.app_context():
        survey = db.session.scalar(sa.select(Survey).where(Survey.slug == seeded))
        assert survey.status == "closed" and survey.closed_at is not None
    assert "closed" in client.get(f"/pollster/surveys/{seeded}/").get_data(as_text=True)


def upload(client, slug: str, content: bytes, filename: str = "panel.csv"):
    return client.post(
        f"/pollster/surveys/{slug}/invitations",
        data={"panel_ids_csv": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
    )


def test_upload_creates_invitations_and_returns_the_links_once(app, client, seeded, sign_in):
    sign_in(client, EMAIL)
    response = upload(client, seeded, b"\xef\xbb\xbfpanel_id,region\nA-100,north\nA-101,south\n")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [row["panel_id"] for row in rows] == ["A-100", "A-101"]
    assert all(row["link"] == f"http://localhost/i/{row['token']}" for row in rows)
    with app.app_context():
        stored = dict(db.session.execute(sa.select(Invitation.panel_id, Invitation.token_hash).where(Invitation.panel_id.like("A-%"))).all())
    assert stored == {row["panel_id"]: hashlib.sha256(row["token"].encode()).hexdigest() for row in rows}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"A-1\nA-2\nA-1\n", "Row 3 repeats the panel ID &#39;A-1&#39; of row 1."),
        (b"panel_id,region\n\n,north\n", "Row 3 has no panel ID."),  # blank lines are skipped, an empty cell is not
        (b"panel_id\n", "a panel_id heading but no panel IDs under it"),
        (b"id,region\nA-1,north\n", "head the column of panel IDs with panel_id"),
        (b"", "The file has no panel IDs."),
        (b"\xff\xfeA\x00", "is not UTF-8 text"),
        (b"p0\nNEW-1\n", "1 panel ID(s) already have an invitation to california-2025: p0. Nothing was created."),
    ],
)
def test_a_bad_csv_is_refused_with_a_message_and_nothing_stored(app, client, seeded, sign_in, content, message):
    sign_in(client, EMAIL)
    response = upload(client, seeded, content)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Invitation)) == 4


def test_an_upload_without_a_file_asks_for_one(client, seeded, sign_in):
    sign_in(client, EMAIL)
    response = client.post(f"/pollster/surveys/{seeded}/invitations", data={}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Choose a CSV file of panel IDs." in response.get_data(as_text=True)


def test_the_counts_are_those_of_the_responses_one_by_one(app):
    """The aggregate queries give what counting the stored responses one by one gives, on a
    simulated poll whose completions span several days, with screen-outs and break-offs."""
    from collections import Counter

    from survey.responses.simulate import simulate
    from tests.support.polls import load_default_survey

    end = datetime(2026, 5, 4, 1, 30, tzinfo=timezone.utc)  # fieldwork days start and end near midnight
    with app.app_context():
        survey = load_default_survey()
        simulate(survey, 40, seed=3, now=end, fieldwork_days=5)
        db.session.add(Invitation(survey_id=survey.id, panel_id="p1", token_hash="1" * 64))
        db.session.execute(sa.update(Response).where(Response.id % 7 == 0).values(simulated=False))
        db.session.commit()
        summary = fieldwork_summary(survey, now=datetime.now(timezone.utc) + timedelta(hours=2), quality=False)
        responses = db.session.scalars(sa.select(Response)).all()

    statuses = Counter(response.status for response in responses)
    days = Counter(response.completed_at.date() for response in responses if response.status == "complete")
    assert (summary.started, summary.completed, summary.screened_out, summary.in_progress) == (
        len(responses), statuses["complete"], statuses["screened_out"], statuses["in_progress"])
    assert summary.simulated == sum(response.simulated for response in responses) < len(responses)
    assert summary.broken_off == statuses["in_progress"] > 0  # two hours on, every unfinished one is idle
    assert (summary.invitations, summary.invitations_used) == (1, 0)
    assert dict(summary.completions_by_day) == {day: days.get(day, 0) for day, _ in summary.completions_by_day}
    assert sum(days.values()) == 40 and len(days) >= 5 and summary.completions_by_day[0][0] == min(days)
