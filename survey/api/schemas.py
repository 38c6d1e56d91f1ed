"""What the API accepts and answers, declared once: these schemas parse the query, serialise the
response and, through flask-smorest, are the OpenAPI document (``openapi.py``)."""
from __future__ import annotations

import math

from marshmallow import Schema, fields, post_load
from marshmallow.validate import Length, OneOf, Range

from survey.models import SurveyStatus, as_utc
from survey.reporting.publication import REPLICATE_CHOICES
from survey.responses.quality import FLAG_LABELS, FLAGS
from survey.weighting.settings import CALFUNS, INTERVAL_METHODS, METHODS, VARIANCE_METHODS
from survey.weighting.target_sets import TARGET_SETS


def _count(description: str | None = None, **options) -> fields.Integer:
    return fields.Integer(validate=Range(min=0), metadata={"description": description} if description else {}, **options)


class FiniteFloat(fields.Float):
    """A number sent as JSON: NaN and infinities (nothing to estimate) become null."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None or not math.isfinite(float(value)):
            return None
        return float(value)


class UtcDateTime(fields.DateTime):
    """A stored moment (UTC, naive on SQLite) sent with its offset, as RFC 3339 requires."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else super()._serialize(as_utc(value), attr, obj, **kwargs)


class ErrorDetailSchema(Schema):
    code = fields.Integer(required=True, metadata={"description": "the HTTP status"})
    title = fields.String(required=True)
    message = fields.String(required=True, metadata={"description": "what went wrong, for the person who can fix it"})


class ErrorSchema(Schema):
    """Every error of the API (``survey.errors``)."""

    error = fields.Nested(ErrorDetailSchema, required=True)


class SurveySchema(Schema):
    slug = fields.String(required=True)
    title = fields.Dict(keys=fields.String(), values=fields.String(), required=True,
                        metadata={"description": "by language code"})
    status = fields.String(required=True, validate=OneOf([status.value for status in SurveyStatus]))
    opened_at = UtcDateTime(required=True, allow_none=True)
    closed_at = UtcDateTime(required=True, allow_none=True)


class SurveyListSchema(Schema):
    surveys = fields.List(fields.Nested(SurveySchema), required=True)


class DayCountSchema(Schema):
    date = fields.String(required=True, metadata={"format": "date"})
    completed = _count(required=True)


QualityFlagsSchema = Schema.from_dict(
    {name: _count(required=True) for name in (*FLAGS, "excluded")}, name="QualityFlags"
)


def _rate() -> FiniteFloat:
    return FiniteFloat(required=True, allow_none=True, validate=Range(min=0, max=1),
                       metadata={"description": "share of eligible starts; null before any"})


class FieldworkSchema(Schema):
    survey = fields.Nested(SurveySchema, required=True)
    started = _count(required=True)
    completed = _count(required=True)
    screened_out = _count(required=True)
    in_progress = _count(required=True)
    broken_off = _count("eligible (past the screening questions), idle for over an hour", required=True)
    left_at_screener = _count("idle for over an hour before eligibility was known", required=True)
    in_progress_eligible = _count("past the screening questions and still answering", required=True)
    screened_out_by = fields.Dict(keys=fields.String(), values=_count(), required=True,
                                  metadata={"description": "screen-outs per screening question code"})
    excluded_by_quality = _count("complete responses the default quality rules leave out", required=True)
    quality_flags = fields.Nested(QualityFlagsSchema, required=True, metadata={
        "description": "complete responses carrying each quality flag, and how many are excluded"})
    simulated = _count()
    eligible = _count("completed + broken off + eligible still answering", required=True)
    completion_rate = _rate()
    breakoff_rate = _rate()
    invitations = _count(required=True)
    invitations_used = _count(required=True)
    invitations_unused = _count(required=True)
    completions_by_day = fields.List(fields.Nested(DayCountSchema), required=True)


class WeightingRunSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True, allow_none=True)
    locked = fields.Boolean(required=True, metadata={"description": "a locked run cannot be renamed, rerun or deleted"})
    published = fields.Boolean(required=True, metadata={"description": "the run the results endpoints serve by default"})
    created_at = UtcDateTime(required=True)
    method = fields.Function(lambda run: run.settings["method"], required=True,
                             metadata={"type": "string", "enum": list(METHODS)})
    respondents = fields.Function(lambda run: len(run.response_ids), required=True,
                                  metadata={"type": "integer", "description": "number of responses the run used"})
    data_hash = fields.String(required=True, metadata={"description": "SHA-256 of the run's data file"})
    settings = fields.Dict(required=True, metadata={
        "description": "targets (with their universe, sources and flags), method, options, levels merged for the run, "
        "and `universe`: the survey's and the targets' populations, whether they differ and whether the pollster "
        "confirmed weighting across them"})
    exclusion_rules = fields.Dict(required=True, metadata={"description": "quality rules that chose the respondents"})
    diagnostics = fields.Dict(required=True, metadata={
        "description": "design effect, effective n, weight range, convergence, achieved vs target margins"})


def _pair(description: str | None = None) -> fields.List:
    return fields.List(fields.Float(), validate=Length(equal=2), metadata={"description": description} if description else {})


class WeightingRunRequestSchema(Schema):
    """The weighting form's choices; a missing field takes the form's default. The same checks and
    messages as the form follow (``survey.weighting.requests.plan_run``)."""

    name = fields.String(validate=Length(max=100))
    target_set = fields.String(validate=OneOf(list(TARGET_SETS)), metadata={
        "description": "default: the saved targets if any, else the shipped set of the survey's universe"})
    variables = fields.List(fields.String(), metadata={
        "description": "target variables to weight by; default: all but the optional ones"})
    merge = fields.Dict(keys=fields.String(), values=fields.Dict(keys=fields.String(), values=fields.String()), metadata={
        "description": "{variable: {level with no respondents: level to merge it into}}, for this run"})
    confirm_universe = fields.Boolean(metadata={
        "description": "required (true) when the targets describe another population than the survey"})
    method = fields.String(validate=OneOf(list(METHODS)))
    poststratify_by = fields.String()
    calfun = fields.String(validate=OneOf(list(CALFUNS)))
    bounds = _pair()
    trim = _pair("as multiples of the mean weight")
    variance = fields.String(validate=OneOf(list(VARIANCE_METHODS)))
    speeder_share = fields.Float(validate=Range(min=0.01, max=0.99))
    exclude = fields.List(fields.String(validate=OneOf(list(FLAG_LABELS))))
    exclude_simulated = fields.Boolean()


class WeightingRunListSchema(Schema):
    runs = fields.List(fields.Nested(WeightingRunSchema), required=True)


def _number(description: str = "null when there is nothing to estimate") -> FiniteFloat:
    return FiniteFloat(required=True, allow_none=True, metadata={"description": description})


class ResultRowSchema(Schema):
    estimate_id = fields.String(required=True)
    question = fields.String(required=True)
    question_text = fields.String()
    answer = fields.String(required=True, metadata={"description": "option or net code (e.g. 'likely'), or 'mean'"})
    net = fields.Boolean(metadata={"description": "true for a net: several answers added up"})
    weighted_to_target = fields.Boolean(metadata={
        "description": "a weighting variable's share: the target itself, with no interval"})
    base = fields.String(metadata={"description": "who was asked the question, in words"})
    base_n = fields.Integer(metadata={"description": "respondents who answered the question"})
    base_weighted_n = FiniteFloat(metadata={"description": "their weighted number"})
    answer_label = fields.String()
    kind = fields.String(validate=OneOf(["proportion", "mean"]))
    domain_variable = fields.String(required=True, allow_none=True)
    domain = fields.String(required=True, allow_none=True)
    domain_label = fields.String(allow_none=True)
    estimate = _number()
    se = _number()
    ci_low = _number()
    ci_high = _number()
    margin_of_error = _number("t × design-based SE (includes the design effect)")
    deff = _number()
    unweighted_n = fields.Integer(required=True)
    effective_n = _number()


class ResultsSchema(Schema):
    run = fields.Nested(WeightingRunSchema, required=True)
    interval = fields.String(required=True, validate=OneOf(list(INTERVAL_METHODS)))
    by = fields.String(required=True, allow_none=True)
    degf = fields.Integer(required=True, metadata={"description": "degrees of freedom of the design"})
    rows = fields.List(fields.Nested(ResultRowSchema), required=True)
    comparisons = fields.List(fields.Dict(), required=True,
                              metadata={"description": "tests against published figures (toplines only)"})


class ViewQuerySchema(Schema):
    """How the tables are computed: the interval method and the question to cross by."""

    ci = fields.String(load_default="logit", validate=OneOf(list(INTERVAL_METHODS)),
                       metadata={"description": "interval method (default logit)"})
    by = fields.String(metadata={
        "description": "question code to cross by (a single-choice question); omit for toplines"})
    net = fields.List(fields.String(), load_default=list, metadata={
        "description": "add a net: QUESTION:ANSWER+ANSWER (repeatable)"})

    @post_load
    def _no_empty_by(self, data, **kwargs):
        return {**data, "by": data.get("by") or None}


FileQuerySchema = Schema.from_dict(
    {
        "ci": fields.String(validate=OneOf(list(INTERVAL_METHODS)), metadata={"description": "interval method (default logit)"}),
        "by": fields.String(metadata={"description": "question code to cross by (crosstabs and spec.yaml)"}),
        "replicates": fields.String(validate=OneOf(sorted(REPLICATE_CHOICES)),
                                    metadata={"description": "add replicate weights (respondent files)"}),
    },
    name="FileQuery",
)  # no defaults: only the options sent are passed on, so the file's own defaults apply


class BannerCellSchema(Schema):
    """One column's cell of a banner row (the Total cell has no variable, level, letters or low_base)."""

    variable = fields.String()
    level = fields.String()
    estimate = _number()
    se = _number()
    ci_low = FiniteFloat(allow_none=True)
    ci_high = FiniteFloat(allow_none=True)
    n = fields.Integer(required=True, metadata={"description": "unweighted, answering in this column"})
    weighted_n = FiniteFloat(allow_none=True)
    higher_than = fields.List(fields.String(), metadata={
        "description": "letters of the columns this cell is significantly higher than"})
    low_base = fields.Boolean()


class BannerColumnSchema(Schema):
    variable = fields.String(required=True)
    level = fields.String(required=True)
    label = fields.String()
    letter = fields.String(required=True)
    n = fields.Integer(required=True)
    weighted_n = FiniteFloat(required=True, allow_none=True)
    low_base = fields.Boolean()


class BannerRowSchema(Schema):
    question = fields.String(required=True)
    question_text = fields.String()
    answer = fields.String(required=True)
    answer_label = fields.String()
    net = fields.Boolean(required=True)
    total = fields.Nested(BannerCellSchema, required=True)
    cells = fields.List(fields.Nested(BannerCellSchema), required=True)


class IndependenceSchema(Schema):
    """The Rao–Scott F test of one question by one banner variable."""

    question = fields.String(required=True)
    variable = fields.String(required=True)
    statistic = _number()
    ndf = _number()
    ddf = _number()
    p_value = _number()


class BannerTotalSchema(Schema):
    n = fields.Integer(required=True)
    weighted_n = FiniteFloat(required=True, allow_none=True)


class BannerBaseSchema(Schema):
    question = fields.String(required=True)
    asked = fields.String(required=True, metadata={"description": "who was asked the question, in words"})
    n = fields.Integer(required=True)
    weighted_n = FiniteFloat(required=True, allow_none=True)


class BannerSchema(Schema):
    run = fields.Integer(required=True)
    alpha = fields.Float(required=True)
    min_base = fields.Integer()
    interval = fields.String()
    degf = fields.Integer()
    total = fields.Nested(BannerTotalSchema)
    columns = fields.List(fields.Nested(BannerColumnSchema), required=True)
    rows = fields.List(fields.Nested(BannerRowSchema), required=True)
    independence = fields.List(fields.Nested(IndependenceSchema), required=True)
    bases = fields.List(fields.Nested(BannerBaseSchema))


class BannerQuerySchema(Schema):
    """Which banner: its rows, columns, letters' significance and base, and any nets."""

    run = fields.Integer(metadata={"description": "weighting run (default: the survey's default run)"})
    rows = fields.String(metadata={"description": "comma-separated question codes (default: every opinion question)"})
    columns = fields.String(metadata={
        "description": "comma-separated banner variables (default: the weighting demographics)"})
    alpha = fields.Float(metadata={"description": "significance level of the letters (default 0.05)"})
    min_base = fields.Integer(metadata={"description": "columns with fewer respondents get no letters (default 30)"})
    ci = fields.String(validate=OneOf(list(INTERVAL_METHODS)), metadata={"description": "interval method (default logit)"})
    net = fields.List(fields.String(), load_default=list, metadata={
        "description": "add a net: QUESTION:ANSWER+ANSWER (repeatable)"})
