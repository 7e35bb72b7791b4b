"""Writing and scoring through an OpenAI-compatible model (`backend.complete_text`).

Generation: the system prompt is `WorkflowSettings.generation_prompt` with the platform's rules
filled in; the user prompt carries the source, the options, style samples, references, earlier
drafts and the feedback to fix (each bounded, see the *_CHARS constants, so a long history cannot
overflow a small model's context). `max_tokens` follows the platform: a blog post of 2000 words
needs ~2700 tokens, far over complete_text's default of 512.

Decisions:
- The answer keeps its line breaks (`metadata["raw_text"]` of the OpenAI backend; the collapsed
  text otherwise). A code fence or quotes wrapped around the whole answer are removed.
- Hard character limits (X 280, LinkedIn 3000, Mastodon the instance limit) are enforced after
  generation: a longer answer is cut at a sentence or word boundary and metadata says
  `trimmed_from`. A post the platform would reject is worse than a trimmed one, and the evaluator
  and the reviewer still see it. Blog length is scored, not cut.
- Evaluation asks for JSON {"score", "feedback", "criteria_scores"}. The JSON is found in a code
  fence, the whole answer, or the first object in surrounding prose. No readable score ->
  AIUnavailable(retry_reason="malformed") (the engine retries the step). Scores are clamped to
  0-100 (`clamped` in metadata). Criteria the model left out or garbled are computed by the
  builtin rules and listed in `criteria_from_rules`; the overall score stays the model's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from core.ai.base import AIBackend, AIUnavailable
from platforms.kinds.base import Form
from platforms.kinds.registry import writing_rules
from workflows.stored_settings import WorkflowSettings, workflow_settings
from workflows.writing import text as t
from workflows.writing.builtin_scoring import criteria_scores_builtin
from workflows.writing.types import (
    CRITERIA,
    DraftEvaluation,
    WritingBrief,
    WrittenDraft,
    platform_char_limit,
)

SOURCE_CHARS = 20_000
SAMPLE_CHARS = 1_500
MAX_SAMPLES = 3
REFERENCE_CHARS = 3_000
MAX_REFERENCES = 3
DRAFT_CHARS = 4_000
MAX_DRAFTS = 2
EVALUATION_MAX_TOKENS = 800


def platform_rules(platform: str, *, char_limit: int | None = None) -> str:
    return writing_rules(platform).prompt(instance_limit=char_limit)


def generation_max_tokens(platform: str, *, char_limit: int | None = None) -> int:
    """Room for the longest allowed post at ~3 characters a token, plus slack."""
    if writing_rules(platform).form == Form.ARTICLE:
        return 4096
    limit = platform_char_limit(platform, char_limit=char_limit) or 3000
    return max(300, min(2048, limit // 2 + 200))


def _cut(text: str, chars: int) -> str:
    text = text.strip()
    return text if len(text) <= chars else text[:chars].rstrip() + " […]"


def _options_lines(options: dict) -> list[str]:
    lines = []
    for key in ("tone", "length", "audience"):
        if options.get(key):
            lines.append(f"- {key}: {options[key]}")
    if options.get("call_to_action"):
        lines.append(f"- call to action: {options['call_to_action']}")
    hashtags = options.get("hashtags", True)
    if hashtags is False:
        lines.append("- hashtags: none")
    elif isinstance(hashtags, list | tuple) and hashtags:
        lines.append(f"- hashtags: use {', '.join(str(h) for h in hashtags)}")
    return lines


def generation_prompt(brief: WritingBrief) -> str:
    parts = [f"Platform: {brief.platform}"]
    options = _options_lines(brief.options or {})
    if options:
        parts.append("Options:\n" + "\n".join(options))
    if brief.source.title:
        parts.append(f"Source title: {brief.source.title}")
    parts.append(f"Source text:\n<<<\n{_cut(brief.source.text, SOURCE_CHARS)}\n>>>")
    if brief.source.urls:
        parts.append("Source links:\n" + "\n".join(f"- {u}" for u in brief.source.urls))
    samples = [s for s in brief.style_samples if s.strip()][:MAX_SAMPLES]
    if samples:
        parts.append(
            "Style samples (the user's own writing; match its voice):\n"
            + "\n".join(f"--- sample {i} ---\n{_cut(s, SAMPLE_CHARS)}" for i, s in enumerate(samples, 1))
        )
    references = [r for r in brief.references if r.strip()][:MAX_REFERENCES]
    if references:
        parts.append(
            "References (background you may draw facts from):\n"
            + "\n".join(
                f"--- reference {i} ---\n{_cut(r, REFERENCE_CHARS)}" for i, r in enumerate(references, 1)
            )
        )
    drafts = list(brief.previous_drafts)[-MAX_DRAFTS:]
    if drafts:
        first = len(brief.previous_drafts) - len(drafts) + 1
        parts.append(
            "Earlier drafts (oldest first; do not repeat their weaknesses):\n"
            + "\n".join(f"--- draft {first + i} ---\n{_cut(d, DRAFT_CHARS)}" for i, d in enumerate(drafts))
        )
    if brief.feedback and brief.feedback.strip():
        parts.append(f"Feedback on the latest draft; fix every point:\n{brief.feedback.strip()}")
    parts.append("Write the new post now.")
    return "\n\n".join(parts)


def clean_answer(text: str) -> str:
    """Drop a code fence or quotes wrapped around the whole answer."""
    text = text.strip()
    fenced = re.fullmatch(r"```[\w-]*\s*\n?(.*?)\n?```", text, re.DOTALL)
    if fenced:
        text = fenced.group(1).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'" and text.count(text[0]) == 2:
        text = text[1:-1].strip()
    return text


def write_llm(brief: WritingBrief, *, backend: AIBackend) -> WrittenDraft:
    config = workflow_settings()
    system = config.generation_prompt.format(
        platform_rules=platform_rules(brief.platform, char_limit=brief.char_limit)
    )
    result = backend.complete_text(
        system=system,
        prompt=generation_prompt(brief),
        model=config.generation_model or None,
        max_tokens=generation_max_tokens(brief.platform, char_limit=brief.char_limit),
    )
    raw = result.metadata.get("raw_text") if isinstance(result.metadata, dict) else None
    content = clean_answer(raw if isinstance(raw, str) and raw.strip() else result.text)
    if not content:
        raise AIUnavailable("The AI server returned an empty draft.", retry_reason="malformed")
    metadata = {k: v for k, v in (result.metadata or {}).items() if k != "raw_text"}
    limit = platform_char_limit(brief.platform, char_limit=brief.char_limit)
    length = writing_rules(brief.platform).length(content)  # Bluesky counts graphemes
    if limit is not None and length > limit:
        metadata["trimmed_from"] = length
        content = t.trim_to(content, limit)
    metadata.update(
        {
            "backend": result.backend,
            "rule_based": False,
            "platform": brief.platform,
            "char_limit": limit,
            "used_style_samples": min(len([s for s in brief.style_samples if s.strip()]), MAX_SAMPLES),
            "used_references": min(len([r for r in brief.references if r.strip()]), MAX_REFERENCES),
            "previous_drafts": len(brief.previous_drafts),
            "feedback_given": bool(brief.feedback and brief.feedback.strip()),
        }
    )
    return WrittenDraft(content=content, model=result.model, backend=result.backend, metadata=metadata)


def evaluation_prompt(*, platform: str, content: str, style_samples: Sequence[str], options: dict) -> str:
    parts = [f"Platform: {platform}"]
    option_lines = _options_lines(options)
    if option_lines:
        parts.append("The user's options:\n" + "\n".join(option_lines))
    samples = [s for s in style_samples if s.strip()][:MAX_SAMPLES]
    if samples:
        parts.append(
            "The user's style samples:\n"
            + "\n".join(f"--- sample {i} ---\n{_cut(s, SAMPLE_CHARS)}" for i, s in enumerate(samples, 1))
        )
    else:
        parts.append("No style samples: score style_consistency on internal consistency.")
    parts.append(f"Draft ({len(content)} characters, {len(t.words(content))} words):\n<<<\n{content}\n>>>")
    parts.append("Reply with the JSON object only.")
    return "\n\n".join(parts)


def _json_objects(text: str):
    """Candidate JSON objects in a model's answer: fenced blocks, the whole text, then each `{`."""
    decoder = json.JSONDecoder()
    blocks = [*re.findall(r"```(?:json|JSON)?\s*(.*?)```", text, re.DOTALL), text]
    for block in blocks:
        try:
            value = json.loads(block.strip())
        except ValueError:
            continue
        yield value
    for match in re.finditer(r"\{", text):
        try:
            value, _end = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        yield value


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value == value else None  # NaN is not a score
    if isinstance(value, str):
        found = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*(?:/\s*100|%)?\s*", value)
        return float(found.group(1)) if found else None
    return None


def _clamp(value: float) -> int:
    return max(0, min(100, round(value)))


def parse_evaluation(text: str) -> dict:
    """The first JSON object with a numeric `score`; AIUnavailable("malformed") when there is none."""
    for candidate in _json_objects(text or ""):
        if isinstance(candidate, dict) and _number(candidate.get("score")) is not None:
            return candidate
    raise AIUnavailable(
        "The AI evaluator's answer has no JSON object with a numeric score.", retry_reason="malformed"
    )


def score_llm(
    *,
    platform: str,
    content: str,
    style_samples: Sequence[str],
    char_limit: int | None,
    options: dict,
    backend: AIBackend,
    config: WorkflowSettings | None = None,
) -> DraftEvaluation:
    # `config`: the settings the caller read for this step (the engine also needs the threshold).
    config = config or workflow_settings()
    system = config.evaluation_prompt.format(platform_rules=platform_rules(platform, char_limit=char_limit))
    result = backend.complete_text(
        system=system,
        prompt=evaluation_prompt(
            platform=platform, content=content, style_samples=style_samples, options=options
        ),
        model=config.evaluation_model or None,
        max_tokens=EVALUATION_MAX_TOKENS,
    )
    raw = result.metadata.get("raw_text") if isinstance(result.metadata, dict) else None
    answer = parse_evaluation(raw if isinstance(raw, str) and raw.strip() else result.text)

    clamped: list[str] = []
    raw_score = _number(answer["score"])
    if not 0 <= raw_score <= 100:
        clamped.append("score")
    given = answer.get("criteria_scores") if isinstance(answer.get("criteria_scores"), dict) else {}
    criteria: dict[str, int] = {}
    from_rules: list[str] = []
    for name in CRITERIA:
        value = _number(given.get(name))
        if value is None:
            from_rules.append(name)
            continue
        if not 0 <= value <= 100:
            clamped.append(name)
        criteria[name] = _clamp(value)
    findings: list[dict] = []
    if from_rules:
        rules, findings, _meta = criteria_scores_builtin(
            platform=platform,
            content=content,
            style_samples=style_samples,
            char_limit=char_limit,
            options=options,
        )
        criteria.update({name: rules[name] for name in from_rules})
    feedback = answer.get("feedback")
    if isinstance(feedback, list):
        feedback = "\n".join(str(item).strip() for item in feedback if str(item).strip())
    elif not isinstance(feedback, str):
        feedback = "" if feedback is None else str(feedback)
    metadata = {k: v for k, v in (result.metadata or {}).items() if k != "raw_text"}
    metadata.update(
        {
            "backend": result.backend,
            "rule_based": False,
            "criteria_from_rules": from_rules,
            "clamped": clamped,
        }
    )
    if from_rules:
        metadata["rule_findings"] = [f for f in findings if f["criterion"] in from_rules]
    return DraftEvaluation(
        score=_clamp(raw_score),
        feedback=feedback.strip(),
        criteria_scores={name: criteria[name] for name in CRITERIA},
        evaluator=f"{result.backend}:{result.model}",
        metadata=metadata,
    )
