"""After a run: every acknowledged completion stored exactly once with its answers, nothing else."""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from loadtest.client import Outcome
from loadtest.pages import token_hash


@dataclass
class Audit:
    acknowledged: int
    stored_responses: int
    stored_complete: int
    lost: list[str]
    altered: list[str]
    duplicated: list[str]
    stray: list[str]

    @property
    def clean(self) -> bool:
        return not (self.lost or self.altered or self.duplicated or self.stray)


def audit(database_url: str, slug: str, outcomes: list[Outcome]) -> Audit:
    """Compare what the site acknowledged with what the database holds, response by response.

    lost: an acknowledged completion (or acknowledged page) missing or not complete;
    altered: stored answers differ from the acknowledged ones (missing, extra or changed);
    duplicated: a page timed twice, or more complete responses than acknowledged completions;
    stray: stored responses beyond those of respondents whose start the site acknowledged.
    """
    engine = sa.create_engine(database_url)
    metadata = sa.MetaData()
    responses, answers, visits, surveys = (
        sa.Table(name, metadata, autoload_with=engine) for name in ("responses", "answers", "page_visits", "surveys")
    )
    with engine.connect() as connection:
        survey_id = connection.scalar(sa.select(surveys.c.id).where(surveys.c.slug == slug))
        stored = {
            row.resume_token_hash: row
            for row in connection.execute(
                sa.select(responses.c.id, responses.c.resume_token_hash, responses.c.status).where(
                    responses.c.survey_id == survey_id
                )
            )
        }
        stored_answers: dict[int, dict[str, Any]] = defaultdict(dict)
        for row in connection.execute(sa.select(answers.c.response_id, answers.c.question_code, answers.c.value)):
            stored_answers[row.response_id][row.question_code] = row.value
        timed_pages: dict[int, Counter] = defaultdict(Counter)
        for row in connection.execute(sa.select(visits.c.response_id, visits.c.page)):
            timed_pages[row.response_id][row.page] += 1
    engine.dispose()

    lost, altered, duplicated = [], [], []
    known = set()
    for outcome in outcomes:
        if outcome.resume_token is None:
            continue  # never reached a page: at most its start was acknowledged (counted below)
        row = stored.get(token_hash(outcome.resume_token))
        if row is None:
            lost.append(f"respondent {outcome.number}: no stored response")
            continue
        known.add(row.resume_token_hash)
        if outcome.completed and row.status != "complete":
            lost.append(f"respondent {outcome.number}: acknowledged complete, stored {row.status}")
        if stored_answers[row.id] != outcome.answers:
            altered.append(f"respondent {outcome.number}: stored {stored_answers[row.id]} != acknowledged {outcome.answers}")
        twice = sorted(page for page, count in timed_pages[row.id].items() if count > 1)
        if twice:
            duplicated.append(f"respondent {outcome.number}: pages timed twice: {', '.join(twice)}")
        missing = sorted(set(outcome.pages) - set(timed_pages[row.id]))
        if missing:
            lost.append(f"respondent {outcome.number}: acknowledged pages without a visit: {', '.join(missing)}")
    acknowledged = sum(outcome.completed for outcome in outcomes)
    stored_complete = sum(row.status == "complete" for row in stored.values())
    if stored_complete > acknowledged:
        duplicated.append(f"{stored_complete} complete responses stored for {acknowledged} acknowledged completions")
    unmatched = len(stored) - len(known)
    cut_off = sum(outcome.started and outcome.resume_token is None for outcome in outcomes)
    stray = [] if unmatched <= cut_off else [
        f"{unmatched} stored responses match no respondent who reached a page ({cut_off} starts were cut off before one)"
    ]
    return Audit(acknowledged, len(stored), stored_complete, lost, altered, duplicated, stray)
