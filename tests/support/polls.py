"""A fast, realistic poll for the results tests: ``survey.responses.simulate``'s people, inserted in bulk.

``flask simulate`` walks every respondent through the site's storing code, which is right for
demos and load tests but takes seconds per hundred; the results tests only need complete
responses, so they draw the same simulated people and insert their answers directly.
"""
from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from survey.extensions import db
from survey.models import Answer, PageVisit, Response, Survey
from survey.questionnaires.loading import default_questionnaire_path, load_file
from survey.questionnaires.sync import load_into_database, questionnaire_of
from survey.responses.simulate import answer, draw_panelist

FIELDWORK_START = datetime(2025, 6, 2, 15, 0, tzinfo=timezone.utc)
#: The levels of the variables the shipped adult targets weight by, as the default questionnaire codes them.
WEIGHTING_CODES = {
    "age_group": ["18-29", "30-44", "45-64", "65+"],
    "sex": ["female", "male"],
    "race": ["white", "hispanic", "asian", "black", "other"],
    "education": ["hs_or_less", "some_college", "ba_plus"],
    "region": ["bay_area", "los_angeles", "southern", "central_valley", "north"],
}


def load_default_survey() -> Survey:
    survey = load_into_database(load_file(default_questionnaire_path()), db.session)
    db.session.commit()
    return survey


def seed_poll(survey: Survey, completions: int, seed: int = 7) -> list[int]:
    """Insert ``completions`` complete responses of simulated Californians; returns their ids."""
    rng = random.Random(seed)
    questionnaire = questionnaire_of(survey)
    people = []
    for number in range(completions):
        panelist = draw_panelist(rng)
        for code in ("resident", "adult", "registered"):
            panelist.planned[code] = "yes"  # only eligible people complete
        answers: dict = {}
        visits = []
        clock = FIELDWORK_START + timedelta(hours=rng.uniform(0, 24 * 6))
        started = clock
        for page in questionnaire.pages:
            shown = [q for q in page.questions if q.is_shown(answers)]
            posted = {q.code: answer(q, panelist, rng) for q in shown}
            seconds = (rng.uniform(1, 2.5) if panelist.behaviour == "speeder" else rng.uniform(5, 15)) * max(1, len(shown))
            visits.append({"page": page.id, "shown_at": clock, "submitted_at": clock + timedelta(seconds=seconds),
                           "seconds": seconds})
            clock += timedelta(seconds=seconds)
            answers.update({code: value for code, value in posted.items() if value is not None})
        token = hashlib.sha256(f"{seed}-{number}".encode()).hexdigest()
        people.append(({
            "survey_id": survey.id,
            "resume_token_hash": token,
            "status": "complete",
            "language": panelist.language,
            "user_agent_hash": hashlib.sha256(f"agent-{token}".encode()).hexdigest(),
            "simulated": True,
            "started_at": started,
            "updated_at": clock,
            "completed_at": clock,
            "option_orders": {},
            "current_page": len(questionnaire.pages),
        }, answers, visits))
    db.session.execute(sa.insert(Response), [row for row, _, _ in people])
    tokens = [row["resume_token_hash"] for row, _, _ in people]
    id_of = dict(db.session.execute(
        sa.select(Response.resume_token_hash, Response.id).where(Response.resume_token_hash.in_(tokens))
    ).all())
    ids = [id_of[token] for token in tokens]
    db.session.execute(sa.insert(Answer), [
        {"response_id": response_id, "question_code": code, "value": value, "answered_at": row["completed_at"]}
        for response_id, (row, answers, _) in zip(ids, people) for code, value in answers.items()
    ])
    db.session.execute(sa.insert(PageVisit), [
        {"response_id": response_id, **visit} for response_id, (_, _, visits) in zip(ids, people) for visit in visits
    ])
    db.session.commit()
    return ids
