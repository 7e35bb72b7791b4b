"""The prompts that ask a vision model for alt text, one per image category, plus a simpler fallback.

Why per category: what a blind reader needs differs by kind of image. A screenshot is its text, a
chart is its message, a photo of people is what they look like and do (never who they might be: a
model that guesses names is wrong often and harmful when it is). One generic prompt, as the
original had, gets none of these right.

An operator can replace any instruction without a deploy: the SystemConfig string
`caption_prompt_<category>` (e.g. `caption_prompt_photo_people`) replaces that category's
instruction, `caption_prompt_fallback` the fallback's. Overrides are plain text, not templates,
so a stray brace cannot break them: the language, the length budget and the output rules are
always appended here, after the instruction (`caption_prompt`).
"""

from django.utils.translation import get_language_info

from captions.models import ImageCategory
from core.selectors import config_get, config_values

__all__ = [
    "CATEGORY_PROMPTS",
    "CONFIG_KEY_PREFIX",
    "DEFAULT_LANGUAGE_NAME",
    "FALLBACK_CONFIG_KEY",
    "FALLBACK_PROMPT",
    "INSTRUCTION_MAX_CHARS",
    "caption_prompt",
    "language_name",
    "prompt_instruction",
    "prompt_overrides",
]

CONFIG_KEY_PREFIX = "caption_prompt_"
FALLBACK_CONFIG_KEY = f"{CONFIG_KEY_PREFIX}fallback"
DEFAULT_LANGUAGE_NAME = "English"
# A reviewer's instruction for one regeneration ("mention the sign's text"): a sentence or two.
INSTRUCTION_MAX_CHARS = 500

C = ImageCategory
CATEGORY_PROMPTS: dict[str, str] = {
    C.PHOTO_PEOPLE: (
        "Describe this photo of people for someone who cannot see it. Describe each person by what is "
        "visible: apparent age group, clothing, posture, expression, and what they are doing, then the "
        "setting. Never guess who a person is, their name, or traits that cannot be seen (such as "
        "ethnicity, religion or health)."
    ),
    C.LANDSCAPE: (
        "Describe this landscape or scene for someone who cannot see it: the kind of place, the main "
        "features from foreground to background, the weather, the light and the time of day if they "
        "are clear."
    ),
    C.FOOD: (
        "Describe this food or drink for someone who cannot see it: what the dish or drink is, its "
        "main visible ingredients, colours and textures, and how it is served."
    ),
    C.ANIMAL: (
        "Describe the animal or animals in this image for someone who cannot see it: the kind of "
        "animal (and breed only if it is clear), colouring and markings, posture, what it is doing, "
        "and where."
    ),
    C.OBJECT: (
        "Describe the main object in this image for someone who cannot see it: what it is, its shape, "
        "colour, material and condition, and where it is placed."
    ),
    C.ARTWORK: (
        "Describe this artwork for someone who cannot see it: the medium or style (painting, drawing, "
        "digital art, sculpture...), the subject and composition, the main colours and the mood. "
        "Transcribe any visible title or signature."
    ),
    C.SCREENSHOT_TEXT: (
        "This image is a screenshot or shows text. Say briefly what it is (an app, a web page, a sign, "
        "a document...) and transcribe its essential text word for word; summarise only what does not "
        "fit in the length budget."
    ),
    C.CHART: (
        "This image is a chart or diagram. State the kind of chart, what the axes or parts show (with "
        "units), and the main trend or conclusion a sighted reader would take from it, with the key "
        "numbers."
    ),
    C.OTHER: (
        "Describe this image for someone who cannot see it: the main subject first, then the important "
        "details, colours and setting."
    ),
}

FALLBACK_PROMPT = "Describe the main subject of this image in one or two short, plain sentences."

RULES = (
    "Write the description in {language}, at most {max_length} characters; about {optimal_min} to "
    "{optimal_max} characters reads best. Start with the subject, not with 'This image shows' or a "
    "label. Use plain sentences: no Markdown, hashtags, emoji or quotation marks around the text. "
    "Reply with the description only."
)


def _cleaned(value) -> str | None:
    if isinstance(value, str) and value.strip():
        return " ".join(value.split())
    return None


def _configured(key: str, overrides: dict[str, str] | None) -> str | None:
    if overrides is not None:
        return overrides.get(key)
    return _cleaned(config_get(key=key))


def prompt_overrides() -> dict[str, str]:
    """Every instruction the operator replaced, by config key, in one query: a task captioning many
    images reads them once (`prompt_instruction(overrides=...)`) instead of twice an image."""
    keys = [FALLBACK_CONFIG_KEY, *(f"{CONFIG_KEY_PREFIX}{category}" for category in CATEGORY_PROMPTS)]
    cleaned = {key: _cleaned(value) for key, value in config_values(keys=keys).items()}
    return {key: value for key, value in cleaned.items() if value}


def prompt_instruction(
    *, category: str | None, fallback: bool = False, overrides: dict[str, str] | None = None
) -> str:
    """The instruction for a category (or the fallback): the operator's override, else the default.

    An unknown or missing category gets the `other` instruction. `overrides` (from
    `prompt_overrides`) saves the query; without it the override is read now.
    """
    if fallback:
        return _configured(FALLBACK_CONFIG_KEY, overrides) or FALLBACK_PROMPT
    if category not in CATEGORY_PROMPTS:
        category = C.OTHER
    return _configured(f"{CONFIG_KEY_PREFIX}{category}", overrides) or CATEGORY_PROMPTS[category]


def language_name(code: str | None) -> str:
    """The English name of a language code ("de" → "German", "pt-BR" → "Brazilian Portuguese").

    No code means English; a code Django does not know is named by its code, which models
    understand better than a guess.
    """
    code = (code or "").strip()
    if not code:
        return DEFAULT_LANGUAGE_NAME
    try:
        return get_language_info(code.lower().replace("_", "-"))["name"]
    except KeyError:
        return f'the language with the code "{code}"'


def caption_prompt(
    *,
    category: str | None,
    language: str | None,
    max_length: int,
    optimal_min: int,
    optimal_max: int,
    fallback: bool = False,
    instruction: str | None = None,
    overrides: dict[str, str] | None = None,
) -> str:
    """The whole prompt sent with the image: the instruction, then the language and length budget.

    The optimal range is narrowed to fit `max_length` (a range above the limit cannot be met).
    `instruction` is a reviewer's request for this image (from a regenerate); it goes between the
    category's instruction and the rules, so the language, length and output rules still come
    last and hold.
    """
    optimal_max = max(1, min(optimal_max, max_length))
    optimal_min = max(1, min(optimal_min, optimal_max))
    rules = RULES.format(
        language=language_name(language),
        max_length=max_length,
        optimal_min=optimal_min,
        optimal_max=optimal_max,
    )
    base = prompt_instruction(category=category, fallback=fallback, overrides=overrides)
    wish = " ".join((instruction or "").split())
    if wish:
        base = f"{base} The reviewer asks for this image: {wish}"
    return f"{base} {rules}"
