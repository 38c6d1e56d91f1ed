"""Synthetic respondents for demos and benchmarks, stored through the respondent site's own code.

Each simulated person is drawn from a rough model of California adults, then kept or not
with a propensity that makes the sample look like an opt-in web panel: older, whiter and
more educated than the state. Opinions depend on party, age, region and race the way they
do in published polls, and the model's *population* figures land near them (about 41%
think a second civil war likely, 16% very likely; 14-20% would vote for California to
leave). Because the sample is skewed and opinions follow demographics, the unweighted
sample misses those figures and weighting to the population margins moves it back.

Answers go through the rules of ``survey.responses.service`` (``new_response_row``,
``plan_save``, ``first_unfinished``: the functions ``start_response``, ``save_page`` and
``complete`` are made of), so they are validated, branched, screened and timed like real
ones; the bulk path only writes many respondents per transaction. Some
people are screened out, some speed through, a few fail the attention check and a few
break off mid-survey.

Population margins follow the shipped weighting targets
(``survey/data/california_adult_targets.yaml``: American Community Survey, California
adults; party registration 2024), so weighting a simulated sample to them recovers the
model's figures; the joint distribution and the opinions are a demonstration model, not data.
"""
from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, Optional

import sqlalchemy as sa

from survey.extensions import db
from survey.models import Answer, PageVisit, Response, ResponseStatus, Survey
from survey.questionnaires.model import Question, Questionnaire
from survey.questionnaires.sync import questionnaire_of
from survey.responses import quality_facts, service

log = logging.getLogger(__name__)

Behaviour = Literal["careful", "inattentive", "speeder"]

# --------------------------------------------------------------------------- population model

REGION_SHARES = {"bay_area": 0.195, "los_angeles": 0.252, "southern": 0.307, "central_valley": 0.151, "north": 0.095}
AGE_SHARES = {"18-29": 0.218, "30-44": 0.272, "45-64": 0.319, "65+": 0.191}
FEMALE_SHARE = 0.5025
RACE_BY_REGION = {
    "bay_area": {"white": 0.38, "hispanic": 0.22, "asian": 0.30, "black": 0.06, "other": 0.04},
    "los_angeles": {"white": 0.27, "hispanic": 0.48, "asian": 0.15, "black": 0.08, "other": 0.02},
    "southern": {"white": 0.42, "hispanic": 0.37, "asian": 0.12, "black": 0.05, "other": 0.04},
    "central_valley": {"white": 0.38, "hispanic": 0.46, "asian": 0.08, "black": 0.04, "other": 0.04},
    "north": {"white": 0.57, "hispanic": 0.20, "asian": 0.11, "black": 0.06, "other": 0.06},
}
EDUCATION_BY_RACE = {
    "white": {"hs_or_less": 0.25, "some_college": 0.30, "ba_plus": 0.45},
    "hispanic": {"hs_or_less": 0.58, "some_college": 0.26, "ba_plus": 0.16},
    "asian": {"hs_or_less": 0.22, "some_college": 0.20, "ba_plus": 0.58},
    "black": {"hs_or_less": 0.33, "some_college": 0.37, "ba_plus": 0.30},
    "other": {"hs_or_less": 0.33, "some_college": 0.32, "ba_plus": 0.35},
}
PARTY_BY_RACE = {
    "white": {"dem": 0.35, "rep": 0.39, "npp": 0.19, "other": 0.07},
    "hispanic": {"dem": 0.49, "rep": 0.19, "npp": 0.24, "other": 0.08},
    "asian": {"dem": 0.47, "rep": 0.18, "npp": 0.29, "other": 0.06},
    "black": {"dem": 0.72, "rep": 0.07, "npp": 0.15, "other": 0.06},
    "other": {"dem": 0.41, "rep": 0.22, "npp": 0.26, "other": 0.11},
}
VOTE_BY_PARTY = {
    "dem": {"harris": 0.88, "trump": 0.05, "other": 0.02, "did_not_vote": 0.05},
    "rep": {"harris": 0.06, "trump": 0.85, "other": 0.03, "did_not_vote": 0.06},
    "npp": {"harris": 0.44, "trump": 0.31, "other": 0.07, "did_not_vote": 0.18},
    "other": {"harris": 0.30, "trump": 0.34, "other": 0.20, "did_not_vote": 0.16},
}

# How much more (or less) likely each kind of Californian is to join an opt-in web panel.
PANEL_PROPENSITY = {
    "age_group": {"18-29": 0.45, "30-44": 0.8, "45-64": 1.1, "65+": 1.5},
    "race": {"white": 1.4, "hispanic": 0.6, "asian": 0.85, "black": 0.9, "other": 1.0},
    "education": {"hs_or_less": 0.6, "some_college": 1.0, "ba_plus": 1.45},
    "sex": {"female": 1.1, "male": 1.0},
}
_MAX_PROPENSITY = math.prod(max(levels.values()) for levels in PANEL_PROPENSITY.values())

# Who reaches the survey without belonging to it, and how people take it.
NOT_RESIDENT, UNDER_18, NOT_REGISTERED, UNSURE_REGISTERED = 0.03, 0.015, 0.07, 0.01
BEHAVIOUR_SHARES: dict[Behaviour, float] = {"careful": 0.90, "speeder": 0.06, "inattentive": 0.04}
BREAK_OFF = 0.05
SPANISH_AMONG_HISPANIC = 0.35


def _pick(rng: random.Random, shares: Mapping[str, float]) -> str:
    return rng.choices(list(shares), weights=list(shares.values()))[0]


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def draw_californian(rng: random.Random) -> dict[str, str]:
    """One adult Californian's demographics, with the usual dependencies between them."""
    region = _pick(rng, REGION_SHARES)
    race = _pick(rng, RACE_BY_REGION[region])
    age = _pick(rng, AGE_SHARES)
    education = _pick(rng, EDUCATION_BY_RACE[race])
    party_shares = dict(PARTY_BY_RACE[race])
    if region in ("north", "central_valley"):
        party_shares["rep"] *= 1.5
    elif region in ("bay_area", "los_angeles"):
        party_shares["rep"] *= 0.7
        party_shares["dem"] *= 1.15
    if age == "18-29":
        party_shares["npp"] *= 1.4
    elif age == "65+":
        party_shares["rep"] *= 1.2
    if education == "ba_plus":
        party_shares["dem"] *= 1.15
    party = _pick(rng, party_shares)
    return {
        "age_group": age,
        "sex": "female" if rng.random() < FEMALE_SHARE else "male",
        "race": race,
        "education": education,
        "region": region,
        "party": party,
        "vote_2024": _pick(rng, VOTE_BY_PARTY[party]),
    }


def draw_panelist_traits(rng: random.Random) -> dict[str, str]:
    """Demographics of someone who answers an opt-in panel survey (rejection sampling)."""
    while True:
        traits = draw_californian(rng)
        propensity = math.prod(PANEL_PROPENSITY[name][traits[name]] for name in PANEL_PROPENSITY)
        if rng.random() < propensity / _MAX_PROPENSITY:
            return traits


# --------------------------------------------------------------------------- opinions

CALEXIT_UNSURE = 0.14
CALEXIT_INTERCEPT = -1.85
CIVIL_WAR_NOT_SURE = 0.09
CIVIL_WAR_CUTS = (1.56, 0.48, -0.70)  # latent above each cut: very, somewhat, not very; else not at all
JEFFERSON_INTERCEPT = -1.75
SUE_INTERCEPT = -0.05
TRUST_MEAN = 3.4


def opinions(traits: Mapping[str, str], rng: random.Random) -> dict[str, Any]:
    """Answers to the opinion questions of the default questionnaire, given demographics."""
    party, age, region = traits["party"], traits["age_group"], traits["region"]
    dem, rep, npp = party == "dem", party == "rep", party == "npp"
    young, middle, old = age == "18-29", age == "30-44", age == "65+"
    low_education = traits["education"] == "hs_or_less"
    answers: dict[str, Any] = {}

    if rng.random() < CALEXIT_UNSURE + (0.06 if low_education else 0.0):
        answers["calexit"] = "unsure"
    else:
        lean = CALEXIT_INTERCEPT + 0.55 * dem - 0.9 * rep + 0.8 * young + 0.4 * middle - 0.5 * old
        lean += 0.25 * (traits["race"] == "hispanic")
        answers["calexit"] = "yes" if rng.random() < _logistic(lean) else "no"
    if answers["calexit"] == "yes":
        reasons = {"federal_policies": 0.45 + 0.3 * dem, "values": 0.5, "economy": 0.4, "taxes": 0.35, "other": 0.08}
        chosen = [code for code, p in reasons.items() if rng.random() < p]
        answers["calexit_reason"] = chosen or ["federal_policies"]

    if rng.random() < CIVIL_WAR_NOT_SURE + (0.04 if low_education else 0.0):
        answers["civil_war_5yr"] = "not_sure"
    else:
        worry = 0.75 * young + 0.35 * middle - 0.45 * old + 0.35 * rep + 0.25 * dem - 0.15 * npp
        latent = worry + rng.gauss(0, 1) * 1.25
        levels = ("very_likely", "somewhat_likely", "not_very_likely")
        answers["civil_war_5yr"] = next(
            (level for level, cut in zip(levels, CIVIL_WAR_CUTS) if latent > cut), "not_at_all_likely"
        )

    if rng.random() < (0.10 if region == "north" else 0.22):
        answers["jefferson"] = "not_sure"
    else:
        support = JEFFERSON_INTERCEPT + 1.3 * rep - 0.7 * dem + 1.2 * (region == "north") + 0.4 * (region == "central_valley")
        if rng.random() < _logistic(support):
            answers["jefferson"] = "strongly_support" if rng.random() < 0.35 else "somewhat_support"
        else:
            answers["jefferson"] = "strongly_oppose" if rng.random() < 0.5 else "somewhat_oppose"

    if rng.random() < 0.10:
        answers["sue_federal"] = "not_sure"
    else:
        approve = SUE_INTERCEPT + 2.0 * dem - 2.2 * rep + 0.2 * young
        if rng.random() < _logistic(approve):
            answers["sue_federal"] = "strongly_approve" if rng.random() < 0.55 else "somewhat_approve"
        else:
            answers["sue_federal"] = "strongly_disapprove" if rng.random() < 0.5 else "somewhat_disapprove"

    trust = rng.gauss(TRUST_MEAN + 2.4 * rep - 1.1 * dem + 0.4 * young, 2.2)
    answers["trust"] = min(10, max(0, round(trust)))
    return answers


COMMENTS = {
    "en": (
        "I worry about how divided the country has become.",
        "California should work with the rest of the country, not leave it.",
        "Secession is not realistic, but I understand the frustration.",
        "Washington does not listen to California.",
        "Thanks for asking these questions.",
    ),
    "es": (
        "Me preocupa lo dividido que está el país.",
        "California debe trabajar con el resto del país, no separarse.",
        "La separación no es realista, pero entiendo la frustración.",
        "Washington no escucha a California.",
        "Gracias por hacer estas preguntas.",
    ),
}


# --------------------------------------------------------------------------- a simulated person


@dataclass(frozen=True)
class Panelist:
    """Who a simulated respondent is and how they will take the survey."""

    traits: dict[str, str]
    planned: dict[str, Any]  # the answers they would give, by question code
    language: str
    behaviour: Behaviour
    breaks_off: bool


def draw_panelist(rng: random.Random) -> Panelist:
    traits = draw_panelist_traits(rng)
    language = "es" if traits["race"] == "hispanic" and rng.random() < SPANISH_AMONG_HISPANIC else "en"
    roll = rng.random()
    registered = "no" if roll < NOT_REGISTERED else "not_sure" if roll < NOT_REGISTERED + UNSURE_REGISTERED else "yes"
    planned: dict[str, Any] = {
        "resident": "no" if rng.random() < NOT_RESIDENT else "yes",
        "adult": "no" if rng.random() < UNDER_18 else "yes",
        "registered": registered,
        **traits,
        **opinions(traits, rng),
    }
    behaviour: Behaviour = _pick(rng, BEHAVIOUR_SHARES)  # type: ignore[assignment]
    attention_ok = {"careful": 0.985, "inattentive": 0.35, "speeder": 0.5}[behaviour]
    planned["attention"] = "somewhat_disagree" if rng.random() < attention_ok else rng.choice(
        ["strongly_agree", "somewhat_agree", "strongly_disagree"]
    )
    if behaviour == "careful" and rng.random() < 0.12:
        planned["comment"] = rng.choice(COMMENTS[language])
    return Panelist(traits, planned, language, behaviour, rng.random() < BREAK_OFF)


def answer(question: Question, panelist: Panelist, rng: random.Random) -> Any:
    """What this person posts for this question (None: left empty)."""
    planned = panelist.planned.get(question.code)
    careless = panelist.behaviour == "speeder" and question.screener is None and question.weighting_variable is None
    if planned is not None and not careless:
        try:
            return question.validate_answer(planned)
        except ValueError:
            pass  # another questionnaire with the same code: answer it like any other question
    if not question.required and (careless or rng.random() < 0.8):
        return None
    if question.type == "single":
        return rng.choice(question.option_codes)
    if question.type == "multiple":
        return rng.sample(question.option_codes, rng.randint(1, min(2, len(question.option_codes))))
    if question.type in ("rating", "number"):
        low, high = question.minimum, question.maximum
        return rng.randint(math.ceil(low), math.floor(high)) if question.integer or question.type == "rating" else rng.uniform(low, high)
    return rng.choice(COMMENTS.get(panelist.language, COMMENTS["en"]))


def _page_seconds(questions: Sequence[Question], answers: Mapping[str, Any], behaviour: Behaviour,
                  rng: random.Random) -> float:
    seconds = 2.0
    for question in questions:
        if behaviour == "speeder":
            seconds += rng.uniform(0.6, 1.8)
        elif question.type == "text":
            seconds += rng.lognormvariate(math.log(35), 0.5) if answers.get(question.code) else rng.uniform(2, 6)
        else:
            seconds += rng.lognormvariate(math.log(7 + len(question.options)), 0.45)
    return seconds


# --------------------------------------------------------------------------- running it


@dataclass(frozen=True)
class SimulationReport:
    started: int
    completed: int
    screened_out: int
    broke_off: int
    speeders: int
    failed_attention: int


def simulate(survey: Survey, completions: int, *, seed: int | None = None, fieldwork_days: float = 7.0,
             max_starts: int | None = None, bulk: bool = True, now: datetime | None = None) -> SimulationReport:
    """Run simulated respondents through the site's storing rules until ``completions`` complete.

    Their paradata is dated within the last ``fieldwork_days`` days, in the time each page
    would have taken them (fieldwork ending ``now``, by default the present), so speeders look
    fast to the quality checks. ``bulk`` (the
    default) keeps each respondent's progress in memory and writes many respondents per
    transaction (``BulkStore``); ``bulk=False`` stores each page through ``save_page`` as the
    site does. Both apply the service's own rules, so they store the same rows.
    """
    if completions < 0:
        raise ValueError(f"the number of completions cannot be negative ({completions})")
    rng = random.Random(seed)
    questionnaire = questionnaire_of(survey)
    store: BulkStore | ServiceStore = BulkStore(survey, questionnaire) if bulk else ServiceStore(survey)
    attention_codes = {q.code: q.attention_check for q in questionnaire.questions if q.attention_check}
    counts = {"started": 0, "completed": 0, "screened_out": 0, "broke_off": 0, "speeders": 0, "failed_attention": 0}
    max_starts = max_starts if max_starts is not None else 3 * completions + 50
    now = now or datetime.now(timezone.utc)
    while counts["completed"] < completions and counts["started"] < max_starts:
        panelist = draw_panelist(rng)
        start = now - timedelta(days=rng.uniform(0, fieldwork_days))
        outcome, answers = _take_survey(store, questionnaire, panelist, start, rng)
        counts["started"] += 1
        counts[outcome] += 1
        if outcome == "completed":
            counts["speeders"] += panelist.behaviour == "speeder"
            counts["failed_attention"] += any(answers.get(code) != expected for code, expected in attention_codes.items())
    store.done()
    if counts["completed"] < completions:
        log.warning("only %d of %d simulated respondents completed after %d starts",
                    counts["completed"], completions, counts["started"])
    return SimulationReport(**counts)


class ServiceStore:
    """Each page stored through ``survey.responses.service`` and committed, as the site stores it."""

    def __init__(self, survey: Survey):
        self.survey = survey

    def start(self, language: str, user_agent: str, rng: random.Random) -> Response:
        return service.start_response(self.survey, language=language, user_agent=user_agent, simulated=True, rng=rng)[0]

    def save_page(self, response: Response, page_id: str, posted: dict[str, Any], shown_at: datetime,
                  submitted_at: datetime) -> tuple[Optional[str], bool]:
        """The next page's id, and whether this page screened the respondent out."""
        next_page = service.save_page(response, page_id, posted, shown_at=shown_at, submitted_at=submitted_at)
        return next_page, response.status == ResponseStatus.SCREENED_OUT.value

    def finish(self, response: Response, completed: bool, started_at: datetime, clock: datetime) -> None:
        if completed and not service.complete(response):
            raise RuntimeError(f"simulated response {response.id} was completed by another process")
        # Date the response in the simulated fieldwork, as the page visits already are.
        response.started_at = started_at
        if completed:
            response.completed_at = clock
        db.session.commit()

    def done(self) -> None:
        """Nothing is held back: every page was committed as it was saved."""


@dataclass
class _Pending:
    """A simulated response not written yet: its row, progress and page visits."""

    row: dict[str, Any]
    saved: service.Progress
    visits: list[dict[str, Any]]


class BulkStore:
    """Many simulated respondents per transaction, by the service's rules.

    Rows are made by ``service.new_response_row``, each page is decided by
    ``service.plan_save`` on progress kept in memory, completion is checked with
    ``service.first_unfinished``; ``batch`` respondents at a time are then written in one
    transaction (COPY on PostgreSQL) instead of a locked, committed transaction per page.
    """

    batch = 2000  # respondents per transaction

    def __init__(self, survey: Survey, questionnaire: Questionnaire):
        self.survey_id, self.questionnaire = survey.id, questionnaire
        self.facts = quality_facts.FactRules.of(questionnaire, survey.source_hash)
        self.pending: list[_Pending] = []
        self.stored = 0

    def start(self, language: str, user_agent: str, rng: random.Random) -> _Pending:
        row = service.new_response_row(self.questionnaire, service.new_token(), language=language,
                                       user_agent=user_agent, simulated=True, rng=rng)
        row = {"survey_id": self.survey_id, "invitation_id": None, "completed_at": None, "screened_out_by": None,
               **dict.fromkeys(quality_facts.FACT_COLUMNS), **row}
        return _Pending(row, service.Progress({}, {}), [])

    def save_page(self, pending: _Pending, page_id: str, posted: dict[str, Any], shown_at: datetime,
                  submitted_at: datetime) -> tuple[Optional[str], bool]:
        plan = service.plan_save(self.questionnaire, pending.saved, page_id, posted, shown_at=shown_at,
                                 submitted_at=submitted_at)
        pending.saved = plan.progress(pending.saved)
        if plan.visit is not None:
            pending.visits.append(plan.visit)
        pending.row.update(plan.changes)
        return plan.next_page_id, pending.row["status"] == ResponseStatus.SCREENED_OUT.value

    def finish(self, pending: _Pending, completed: bool, started_at: datetime, clock: datetime) -> None:
        if completed:
            if service.first_unfinished(self.questionnaire, pending.saved) is not None:
                raise service.ResponseIncomplete("a simulated respondent finished with pages left to answer")
            pending.row.update(status=ResponseStatus.COMPLETE.value, completed_at=clock)
            # what the site's completion stores for the quality counts, by the same rules
            pending.row.update(self.facts.facts(pending.saved.answers, [visit["seconds"] for visit in pending.visits],
                                                started_at, clock))
        pending.row["started_at"] = started_at
        self.pending.append(pending)
        if len(self.pending) >= self.batch:
            self.flush()

    def flush(self) -> None:
        """Write the held respondents, their answers and page visits, and commit."""
        if not self.pending:
            return
        responses, answers, visits = Response.__table__, Answer.__table__, PageVisit.__table__
        now = service.utcnow()
        rows = [{**pending.row, "updated_at": now} for pending in self.pending]
        ids = db.session.execute(
            sa.insert(responses).returning(responses.c.id, sort_by_parameter_order=True), rows
        ).scalars().all()
        answer_rows = [
            {"response_id": response_id, "question_code": code, "value": value, "answered_at": now}
            for response_id, pending in zip(ids, self.pending) for code, value in pending.saved.answers.items()
        ]
        visit_rows = [
            {"response_id": response_id, **visit} for response_id, pending in zip(ids, self.pending) for visit in pending.visits
        ]
        _insert_many(answers, answer_rows)
        _insert_many(visits, visit_rows)
        db.session.commit()
        self.stored += len(self.pending)
        self.pending = []

    def done(self) -> None:
        """Write what is still held. After a load of a batch or more on PostgreSQL, refresh the
        planner's statistics of the filled tables: until autovacuum gets to them they say the
        tables are nearly empty, and the fieldwork page's answer counts then loop over the
        responses (9 s instead of 1 s at 100,000 completes)."""
        self.flush()
        if self.stored >= self.batch and db.session.get_bind().dialect.name == "postgresql":
            db.session.execute(sa.text("ANALYZE responses, answers, page_visits"))
            db.session.commit()


def _insert_many(table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` in the session's transaction: by COPY on PostgreSQL (one executemany
    statement per row there), else by executemany. JSON columns are written as
    ``json.dumps`` text, as SQLAlchemy's JSON type writes them."""
    if not rows:
        return
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        connection.execute(sa.insert(table), rows)
        return
    names = list(rows[0])
    as_json = [isinstance(table.c[name].type, sa.JSON) for name in names]
    with connection.connection.driver_connection.cursor() as cursor:
        with cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([json.dumps(row[name]) if encode else row[name] for name, encode in zip(names, as_json)])


def _take_survey(store: BulkStore | ServiceStore, questionnaire: Questionnaire, panelist: Panelist, start: datetime,
                 rng: random.Random) -> tuple[str, dict[str, Any]]:
    response = store.start(panelist.language, _user_agent(rng), rng)
    outcome, answers, clock = _answer_pages(store, response, questionnaire, panelist, start, rng)
    store.finish(response, outcome == "completed", start, clock)
    return outcome, answers


def _answer_pages(store: BulkStore | ServiceStore, response, questionnaire: Questionnaire, panelist: Panelist,
                  start: datetime, rng: random.Random) -> tuple[str, dict[str, Any], datetime]:
    """Submit page after page as this person would; the outcome, their answers and the clock."""
    clock = start
    answers: dict[str, Any] = {}
    page_id = questionnaire.next_page_id(None, answers)
    stop_after = rng.randint(2, max(2, len(questionnaire.pages) - 1)) if panelist.breaks_off else None
    pages_done = 0
    while page_id is not None:
        if stop_after is not None and pages_done >= stop_after:
            return "broke_off", answers, clock
        page = questionnaire.pages[questionnaire.page_index(page_id)]
        shown = [question for question in page.questions if question.is_shown(answers)]
        posted = {question.code: answer(question, panelist, rng) for question in shown}
        seconds = _page_seconds(shown, posted, panelist.behaviour, rng)
        page_id, screened_out = store.save_page(response, page.id, posted, clock, clock + timedelta(seconds=seconds))
        clock += timedelta(seconds=seconds + rng.uniform(0.3, 1.5))
        answers.update({code: value for code, value in posted.items() if value is not None})
        pages_done += 1
        if screened_out:
            return "screened_out", answers, clock
    return "completed", answers, clock


def _user_agent(rng: random.Random) -> str:
    """A browser string varied enough that different simulated people never look like duplicates."""
    platform = rng.choice([
        "Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 10_15_7", "X11; Linux x86_64",
        "iPhone; CPU iPhone OS 17_5 like Mac OS X", "Linux; Android 14; Pixel 8",
    ])
    build = f"{rng.randint(118, 131)}.0.{rng.randint(5000, 6999)}.{rng.randint(10, 250)}"
    return f"Mozilla/5.0 ({platform}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{build} Safari/537.36"
