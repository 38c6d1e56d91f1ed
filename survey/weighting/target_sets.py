"""The target sets a survey can be weighted to: the shipped ones (California registered voters,
California adults) and the pollster's saved one, and which of them a survey starts from."""
from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa

from survey.extensions import db
from survey.models import Survey, TargetSet
from survey.questionnaires.sync import questionnaire_of
from survey.weighting.reference_data import california_adult_targets, california_registered_voter_targets
from survey.weighting.runs import weighting_variables
from survey.weighting.targets import Targets, universes_differ

TARGET_SETS = {
    "registered_voters": "California registered voters (shipped)",
    "adults": "California adults 18+ (shipped)",
    "saved": "Your saved targets (uploaded or edited)",
}
_SHIPPED = {"registered_voters": california_registered_voter_targets, "adults": california_adult_targets}


def target_sets(survey: Survey) -> dict[str, Targets]:
    """Every target set the pollster can weight ``survey`` to, by key of ``TARGET_SETS``: the
    shipped ones (optional variables included, limited to the variables the questionnaire asks,
    since a target without a question cannot be weighted to) and the latest saved one, if any."""
    asked = weighting_variables(survey)
    sets = {}
    for key, shipped in _SHIPPED.items():
        targets = shipped(include_optional=True)
        sets[key] = targets.only([variable for variable in targets.margins if variable in asked])
    stored = db.session.scalar(
        sa.select(TargetSet).where(TargetSet.survey_id == survey.id).order_by(TargetSet.id.desc()).limit(1)
    )
    if stored is not None:
        sets["saved"] = Targets.from_dict(stored.targets)
    return sets


def default_target_set(survey: Survey, sets: Mapping[str, Targets]) -> str:
    """The pollster's saved targets if any; else the shipped set of the survey's universe; else
    the registered-voter set (the default poll's)."""
    if "saved" in sets:
        return "saved"
    for key in _SHIPPED:
        if survey.universe and not universes_differ(survey.universe, sets[key].universe):
            return key
    return "registered_voters"


def level_labels(survey: Survey, language: str = "en") -> dict[str, dict[str, str]]:
    """Weighting variable -> level code -> the option's label, so pages show labels, not codes."""
    return {
        q.weighting_variable: {o.code: q.option_label(o.code, language) for o in q.options}
        for q in questionnaire_of(survey).questions if q.weighting_variable
    }
