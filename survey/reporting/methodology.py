"""The methodology statement of a weighting run, item by item as the AAPOR Transparency
Initiative lists them, with AAPOR's guidance on non-probability samples.

What only the pollster knows (sample type, sponsor, conductor, sample source, mode,
languages, fieldwork dates) is stored on the survey and copied into each run when it is
created (``snapshot``), so a published statement does not change when the survey is edited
later. A field left empty is written as *not stated*: a missing item is shown as missing,
never filled in. Everything else (dispositions, weighting, design effect, wording) comes from
the run.

For an opt-in sample the statement gives no margin of sampling error: it says what the
design-based intervals cover and what they do not (AAPOR Task Force on Non-Probability
Sampling, 2013; AAPOR Code of Professional Ethics and Practices, III.A).
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Optional

from markdown_it import MarkdownIt
from scipy import stats

from survey.models import SampleType, Survey, WeightingRun
from survey.questionnaires.sync import questionnaire_of
from survey.reporting.fieldwork import fieldwork_summary
from survey.weighting.runs import ComputedRun
from survey.weighting.settings import INTERVAL_METHODS, METHODS
from survey.weighting.spec import ID_COLUMN
from survey.weighting.targets import universes_differ

NOT_STATED = "*not stated*"
SAMPLE_TYPES = {
    SampleType.PROBABILITY.value: "Probability sample",
    SampleType.OPT_IN_PANEL.value: "Opt-in sample from an online panel (non-probability)",
    SampleType.RIVER.value: "Opt-in sample of people who followed an open web link (river or web intercept; non-probability)",
}
SAMPLE_TYPE_CHOICES = {  # the same types, short enough for a phone's select box
    SampleType.PROBABILITY.value: "Probability sample",
    SampleType.OPT_IN_PANEL.value: "Opt-in panel",
    SampleType.RIVER.value: "Open web link (river, intercept)",
}
VARIANCE_TEXT = {
    "linearization": "Taylor linearization through the weighting step, as R's `survey`",
    "jk1": "jackknife replicate weights, each replicate weighted again",
}
FIELD_LABELS = {
    "sample_type": "Sample type",
    "sponsor": "Sponsor",
    "conducted_by": "Conducted by",
    "sample_source": "Sample source",
    "mode": "Mode",
    "interview_languages": "Languages",
    "fieldwork_start": "Fieldwork start",
    "fieldwork_end": "Fieldwork end",
}


@dataclass(frozen=True)
class Disclosure:
    """The disclosure items only the pollster knows; ``None`` means not stated."""

    sample_type: Optional[str] = None
    sponsor: Optional[str] = None
    conducted_by: Optional[str] = None
    sample_source: Optional[str] = None
    mode: Optional[str] = None
    interview_languages: Optional[str] = None
    fieldwork_start: Optional[dt.date] = None
    fieldwork_end: Optional[dt.date] = None

    @classmethod
    def of_survey(cls, survey: Survey) -> "Disclosure":
        values = {f.name: getattr(survey, f.name) for f in fields(cls)}
        return cls(**{name: value if not isinstance(value, str) or value.strip() else None for name, value in values.items()})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Disclosure":
        values = {f.name: data.get(f.name) for f in fields(cls)}
        for name in ("fieldwork_start", "fieldwork_end"):
            if values[name]:
                values[name] = dt.date.fromisoformat(values[name])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {name: value.isoformat() if isinstance(value, dt.date) else value for name, value in asdict(self).items()}

    @property
    def probability(self) -> bool:
        return self.sample_type == SampleType.PROBABILITY.value

    @property
    def missing(self) -> list[str]:
        """Labels of the items not stated, for the pollster to fill in before publishing."""
        return [FIELD_LABELS[name] for name, value in asdict(self).items() if value is None]


def snapshot(survey: Survey) -> dict[str, Any]:
    """What a run keeps of the survey when it is created (``create_run(methodology=...)``): the
    disclosure items and the dispositions as they stand."""
    now = dt.datetime.now(dt.timezone.utc)
    return {
        "disclosure": Disclosure.of_survey(survey).to_dict(),
        "dispositions": fieldwork_summary(survey, quality=False, now=now).to_dict(),
        "as_of": now.isoformat(timespec="seconds"),
    }


def run_snapshot(run: WeightingRun, survey: Survey) -> tuple[Disclosure, dict[str, Any], str]:
    """(disclosure, dispositions, as-of time) of ``run``; a run made before snapshots existed
    reads the survey as it is now and says so through the as-of time."""
    if run.methodology:
        return (Disclosure.from_dict(run.methodology["disclosure"]), run.methodology["dispositions"],
                run.methodology["as_of"])
    current = snapshot(survey)
    return Disclosure.of_survey(survey), current["dispositions"], current["as_of"]


def _stated(value: Optional[str]) -> str:
    return NOT_STATED if value is None else value


def _date(value: Optional[dt.date]) -> str:
    return NOT_STATED if value is None else f"{value:%B} {value.day}, {value:%Y}"


def _dates(start: Optional[dt.date], end: Optional[dt.date]) -> str:
    return NOT_STATED if start is None and end is None else f"{_date(start)} to {_date(end)}"


def margin_of_error(computed: ComputedRun, level: float = 0.95) -> float:
    """Margin of error for a 50% estimate of the whole sample, with the design effect of weighting
    (only ever shown for a probability sample)."""
    diagnostics = computed.run.diagnostics
    degf = computed.result.degf
    t_value = stats.t.ppf(1 - (1 - level) / 2, degf) if degf and degf > 0 else math.nan
    return float(t_value * math.sqrt(diagnostics["design_effect"] * 0.25 / diagnostics["n"]))


def methodology_markdown(computed: ComputedRun, survey: Survey) -> str:
    """The methodology statement of ``computed``'s run as Markdown."""
    run, settings = computed.run, computed.settings
    disclosure, counts, as_of = run_snapshot(run, survey)
    completed = computed.data.paradata.loc[computed.frame[ID_COLUMN], "completed_at"]
    deff, effective_n = run.diagnostics["design_effect"], run.diagnostics["effective_n"]
    flags = computed.data.flag_counts()
    rules = run.exclusion_rules
    sample_type = SAMPLE_TYPES.get(disclosure.sample_type or "", NOT_STATED)
    lines = [
        f"# Methodology: {survey.title.get('en') or survey.slug}",
        "",
        f"Weighting run {run.id}, made {run.created_at:%B} {run.created_at.day}, {run.created_at:%Y}. Disclosure items of the "
        "AAPOR Transparency Initiative; an item marked *not stated* was not given by the pollster.",
        "",
        "## Who did it",
        "",
        f"- **Sponsor:** {_stated(disclosure.sponsor)}",
        f"- **Conducted by:** {_stated(disclosure.conducted_by)}",
        "",
        "## Population and sample",
        "",
        f"- **Population (universe):** {_stated(settings.survey_universe)}",
        f"- **Sample type:** {sample_type}",
        f"- **Sample source:** {_stated(disclosure.sample_source)}",
        f"- **Mode:** {_stated(disclosure.mode)}",
        f"- **Languages:** {_stated(disclosure.interview_languages)}",
        f"- **Fieldwork dates:** {_dates(disclosure.fieldwork_start, disclosure.fieldwork_end)}; the interviews used "
        f"were completed from {_date(completed.min().date())} to {_date(completed.max().date())} (UTC)",
        "",
        f"## Dispositions (as of {as_of[:16].replace('T', ' ')} UTC)",
        "",
        "In the terms of AAPOR's *Standard Definitions* for a web survey:",
        "",
        f"- **Started the questionnaire:** {counts['started']}",
        f"- **Screened out (not eligible):** {counts['screened_out']}"
        + (" — " + ", ".join(f"by `{code}` {n}" for code, n in sorted(counts['screened_out_by'].items()))
           if counts.get("screened_out_by") else ""),
        f"- **Stopped before eligibility was known (unknown eligibility):** {counts['left_at_screener']}",
        f"- **Completes:** {counts['completed']}",
        f"- **Partials and break-offs (eligible, stopped before the end):** {counts['broken_off']}",
        f"- **Eligible and still answering:** {counts['in_progress_eligible']}",
        f"- **Break-off rate:** {_rate(counts['breakoff_rate'])} of the {counts['eligible']} eligible starts",
        f"- **Quality exclusions (of the completes used here):** {flags['excluded']} "
        f"({', '.join(rules['exclude']) or 'no rule applied'}; speeders: under {rules['speeder_share']:.0%} of the median time)",
        f"- **Interviews used:** {len(computed.frame)}",
        "",
        "## Weighting",
        "",
        f"{METHODS[settings.method]} to the population shares below ({settings.targets.name}), which describe: "
        f"{_stated(settings.targets.universe)}.",
        f"Design effect of weighting (Kish, 1 + CV² of the weights): {deff:.2f}; effective sample size: {effective_n:.0f} "
        f"of {run.diagnostics['n']} interviews.",
        "",
    ]
    if settings.trim:
        lines += [f"Weights trimmed to {settings.trim[0]}–{settings.trim[1]} times the mean weight.", ""]
    if universes_differ(settings.survey_universe, settings.targets.universe):
        lines += [f"**The targets describe another population than the survey samples** ({settings.targets.universe}, "
                  f"not {settings.survey_universe}); the pollster confirmed weighting to them. Estimates are then "
                  "adjusted towards the wrong population on these variables.", ""]
    targets = settings.targets
    lines += ["| Variable | Target shares | Source (figure confirmed, computed or an assumption) |", "|---|---|---|"]
    for variable, levels in targets.margins.items():
        shares = ", ".join(f"{level} {share:.1%}" for level, share in levels.items())
        flag = f"**{targets.flags[variable]}**: " if variable in targets.flags else ""
        lines.append(f"| `{variable}` | {shares} | {flag}{table_cell(targets.sources.get(variable) or NOT_STATED)} |")
    lines += ["", "## Precision", ""] + _precision(computed, disclosure, deff) + [""]
    prefix = f"{survey.slug}-run{run.id}"
    lines += [
        "## Reproducibility",
        "",
        f"`{prefix}-spec.yaml` with `{computed.spec['data']}` reruns this weighting: "
        f"`python -m analysis run {prefix}-spec.yaml --out result.json`.",
        "",
        "## Full question wording",
        "",
        "Every question in the order asked; screening questions decide who is eligible and are not reported.",
        "",
    ]
    languages = list((survey.definition or {}).get("languages") or ["en"])
    for question in questionnaire_of(survey).questions:
        lines += _question_wording(question, languages)
    return "\n".join(lines).rstrip() + "\n"


def _precision(computed: ComputedRun, disclosure: Disclosure, deff: float) -> list[str]:
    run, settings = computed.run, computed.settings
    interval = next((e["ci"] for e in computed.spec["estimates"] if e["type"] == "proportion"), "logit")
    method = (f"design-based ({VARIANCE_TEXT[settings.variance]}), {computed.result.degf} degrees of freedom, "
              f"{INTERVAL_METHODS[interval].split(' (')[0].lower()} intervals")
    if disclosure.probability:
        return [
            f"- **Margin of sampling error:** ±{100 * margin_of_error(computed):.1f} percentage points at the 95% "
            f"confidence level for a 50% estimate of the whole sample, including the design effect of {deff:.2f}; "
            "subgroups have larger margins.",
            f"- **Intervals:** {method}.",
        ]
    kind = "an opt-in (non-probability) sample" if disclosure.sample_type else "a sample whose type is not stated"
    return [
        f"This is {kind}, so no margin of sampling error is given: its theory needs every member of the "
        "population to have a known chance of selection.",
        "",
        f"The 95% intervals beside the estimates are {method}. They measure how much an estimate would vary "
        "across samples recruited and weighted the same way, including the variability the weights add "
        f"(design effect {deff:.2f}), under the assumption that, within the weighting cells, the people who "
        "took part answer like the people of the population who did not.",
        "",
        "They do not cover error from who joins an opt-in sample beyond what the weighting variables "
        "correct, nonresponse and break-offs, the wording and mode of the questions, or error in the "
        "weighting targets themselves.",
    ]


def _rate(value: Optional[float]) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def table_cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _question_wording(question, languages: list[str]) -> list[str]:
    lines = [f"### `{question.code}` ({question.type})", ""]
    for language in languages:
        lines.append(f"- **{language}:** {question.text.get(language, NOT_STATED)}")
        if question.options:
            lines.append("  " + "; ".join(f"`{o.code}` {o.label.get(language, o.code)}" for o in question.options))
    lines.append("")
    return lines


_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


def methodology_html(markdown: str) -> str:
    """The statement's Markdown as HTML for the print-ready page (raw HTML in any field is escaped)."""
    return _MARKDOWN.render(markdown)
