"""The offline backend: rule-based, honest about being basic, and what a new installation runs first.

It recognises nothing. It measures the image (core.ai.image_analysis) and says what the numbers
support: brightness, main colours, format, and hints of text, a chart or flat colour. Its captions
are English only and marked in their metadata as basic descriptions that need human review, so the
caption pipeline flags them (`needs_special_review`) instead of posting them as if a model wrote them.

Classification rules, in order:
1. text-likeness >= 0.5 -> screenshot_text (confidence = text-likeness);
2. mostly flat colour, at most 16 colour buckets for 95 % of the pixels, and at least 3 long
   straight lines -> chart (confidence 0.5);
3. otherwise -> other (confidence 0.2: the rules cannot tell people, food, animals or landscapes
   apart, and do not pretend to).
"""

from __future__ import annotations

from core.ai.base import (
    DEFAULT_TEXT_MAX_TOKENS,
    AIUnsupported,
    CaptionRequest,
    CaptionResult,
    Classification,
    ImageCategory,
    ImageInput,
    TextResult,
)
from core.ai.image_analysis import ImageMeasurements, analyse_image

MODEL_NAME = "builtin-rules-1"
LANGUAGE = "en"

TEXT_FROM = 0.5
CHART_MAX_COLOURS = 16
CHART_MIN_LONG_LINES = 3
CHART_CONFIDENCE = 0.5
OTHER_CONFIDENCE = 0.2
MOSTLY_FROM = 0.5
SECOND_COLOUR_FROM = 0.2

REVIEW_NOTE = (
    "Basic, rule-based description from measured brightness, colours, format and text/chart hints; "
    "it does not say what the image shows. A person should review and complete it."
)


class BuiltinBackend:
    """Offline, deterministic; see the module docstring for its rules."""

    name = "builtin"

    def caption_image(self, request: CaptionRequest) -> CaptionResult:
        measurements = analyse_image(request.image.data)
        category, confidence = classify_measurements(measurements)
        text = describe(measurements, category=category, max_length=request.max_length)
        requested = (request.language or "").strip() or None
        metadata = {
            "backend": self.name,
            "basic_description": True,
            "needs_review": True,
            "review_reason": REVIEW_NOTE,
            "language": LANGUAGE,
            "requested_language": requested,
            "prompt_used": False,
            "category": category,
            "category_confidence": confidence,
            "measurements": measurements.as_dict(),
        }
        if requested and requested.lower().split("-")[0] != LANGUAGE:
            metadata["language_note"] = (
                f"Language {requested!r} was requested; the builtin backend writes English only."
            )
        return CaptionResult(text=text, model=MODEL_NAME, backend=self.name, metadata=metadata)

    def classify_image(self, image: ImageInput, *, model: str | None = None) -> Classification:
        return classify_measurements(analyse_image(image.data))

    def complete_text(
        self,
        *,
        system: str,
        prompt: str,
        model: str | None = None,
        max_tokens: int = DEFAULT_TEXT_MAX_TOKENS,
    ) -> TextResult:
        raise AIUnsupported("the builtin backend does not write free text; configure AI_BACKEND=openai")


def classify_measurements(m: ImageMeasurements) -> Classification:
    """The stated rules of the module docstring."""
    if m.text_likeness >= TEXT_FROM:
        return Classification(ImageCategory.SCREENSHOT_TEXT, m.text_likeness)
    if m.mostly_flat and m.distinct_colours <= CHART_MAX_COLOURS and m.long_lines >= CHART_MIN_LONG_LINES:
        return Classification(ImageCategory.CHART, CHART_CONFIDENCE)
    return Classification(ImageCategory.OTHER, OTHER_CONFIDENCE)


def describe(m: ImageMeasurements, *, category: str, max_length: int) -> str:
    """One plain sentence, e.g. "A bright, mostly blue square image in flat colour."

    When it is longer than `max_length`, clauses are dropped from the end, then the colour, then
    the brightness, down to "An image." (a sentence cut mid-way would read as nonsense).
    """
    shape = {"square": "square", "landscape": "landscape-format", "portrait": "portrait-format"}[
        m.orientation
    ]
    core = f"A {m.brightness_level}, {_colour_phrase(m)} {shape} image"
    clauses = []
    if category == ImageCategory.SCREENSHOT_TEXT:
        clauses.append("it may contain text")
    elif category == ImageCategory.CHART:
        clauses.append("it may be a chart or diagram")
    elif m.mostly_flat:
        clauses.append("it is mostly flat colour")
    if m.has_transparency:
        clauses.append("it has transparent areas")

    candidates = [core + "; " + ", and ".join(clauses[:n]) + "." for n in range(len(clauses), 0, -1)]
    candidates += [
        core + ".",
        f"A {m.brightness_level} {shape} image.",
        f"A {shape} image.",
        "An image.",
    ]
    for sentence in candidates:
        if len(sentence) <= max_length:
            return sentence
    return candidates[-1][: max(0, max_length)]


def _colour_phrase(m: ImageMeasurements) -> str:
    """ "greyscale"/"black-and-white", "mostly X" (and Y), "X and Y", or "multicoloured"."""
    colours = list(m.dominant_colours)
    if m.is_greyscale:
        return "black-and-white" if {c.name for c in colours} <= {"black", "white"} else "greyscale"
    if not colours:
        return "multicoloured"
    first, *rest = colours
    second = rest[0] if rest else None
    if first.share >= MOSTLY_FROM:
        if second and second.share >= SECOND_COLOUR_FROM:
            return f"mostly {first.name} and {second.name}"
        return f"mostly {first.name}"
    if second and first.share + second.share >= MOSTLY_FROM:
        return f"{first.name} and {second.name}"
    return "multicoloured"
