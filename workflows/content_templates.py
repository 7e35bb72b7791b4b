"""Named content templates: a workflow in `template` mode fills a template's fields instead of
pasting source text, and the rendered text becomes its `SourceMaterial`.

Built-in templates are below; operators add more in the JSON system setting `workflow_templates`:

    [{"name": "newsletter", "title": "Newsletter", "description": "...",
      "fields": [{"name": "topic", "label": "Topic", "required": true}, ...],
      "body": "This month: {topic}\\n\\n{details}"}]

A malformed entry (or a malformed setting) is skipped with a logged warning; an entry cannot
replace a built-in template of the same name.

Rendering: `{field}` placeholders are filled with the stripped values. A body line whose
placeholders are all empty optional fields is dropped, so optional parts leave no dangling
labels. Fields named `url` or ending in `_url` must be http(s) URLs and also go into
`SourceMaterial.urls`; the template's `title` pattern gives `SourceMaterial.title`.

Errors are `ValidationError` with dotted keys under `template_input`
(`template_input.name` for an unknown template name, `template_input.fields.<field>`), the API's
notation for nested input.
"""

from __future__ import annotations

import logging
import re
import string
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from workflows.writing import SourceMaterial

logger = logging.getLogger(__name__)

CONFIG_KEY = "workflow_templates"
DEFAULT_MAX_LENGTH = 5000
SHORT_MAX_LENGTH = 300
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
ERROR_PREFIX = "template_input"


@dataclass(frozen=True)
class TemplateField:
    name: str
    label: str
    required: bool = True
    max_length: int = DEFAULT_MAX_LENGTH

    @property
    def is_url(self) -> bool:
        return self.name == "url" or self.name.endswith("_url")

    @property
    def kind(self) -> str:
        """The kind of input: "url" (an http(s) URL, added to the source links) or "text"."""
        return "url" if self.is_url else "text"


@dataclass(frozen=True)
class ContentTemplate:
    name: str
    title: str
    description: str
    fields: tuple[TemplateField, ...]
    body: str = ""
    title_pattern: str = ""  # e.g. "{product_name}"; empty: the template's title
    builtin: bool = True

    def field(self, name: str) -> TemplateField | None:
        return next((f for f in self.fields if f.name == name), None)


def _f(name: str, label: str, *, required: bool = True, short: bool = False) -> TemplateField:
    return TemplateField(
        name=name,
        label=label,
        required=required,
        max_length=SHORT_MAX_LENGTH if short else DEFAULT_MAX_LENGTH,
    )


BUILTIN_TEMPLATES: tuple[ContentTemplate, ...] = (
    ContentTemplate(
        name="product_launch",
        title="Product launch",
        description="Announce a new product or feature: what it is, why it matters, where to get it.",
        fields=(
            _f("product_name", "Product name", short=True),
            _f("description", "What it is and who it is for"),
            _f("key_features", "Key features", required=False),
            _f("availability", "Availability and price", required=False, short=True),
            _f("url", "Link", required=False, short=True),
        ),
        body=(
            "Introducing {product_name}.\n\n{description}\n\nKey features: {key_features}\n\n"
            "Availability: {availability}\n\nLearn more: {url}"
        ),
        title_pattern="Introducing {product_name}",
    ),
    ContentTemplate(
        name="event_announcement",
        title="Event announcement",
        description="Invite people to an event: what, when, where, how to register.",
        fields=(
            _f("event_name", "Event name", short=True),
            _f("date", "Date and time", short=True),
            _f("location", "Location (or online)", short=True),
            _f("description", "What happens there"),
            _f("registration_url", "Registration link", required=False, short=True),
        ),
        body=(
            "{event_name} takes place on {date} at {location}.\n\n{description}\n\n"
            "Register here: {registration_url}"
        ),
        title_pattern="{event_name}",
    ),
    ContentTemplate(
        name="article_summary",
        title="Article summary",
        description="Share an article with its main points.",
        fields=(
            _f("article_title", "Article title", short=True),
            _f("summary", "Summary"),
            _f("key_points", "Key points", required=False),
            _f("article_url", "Article link", required=False, short=True),
        ),
        body="{article_title}\n\n{summary}\n\nKey points: {key_points}\n\nRead the article: {article_url}",
        title_pattern="{article_title}",
    ),
    ContentTemplate(
        name="case_study",
        title="Case study",
        description="Tell how a client solved a problem: challenge, solution, results.",
        fields=(
            _f("client", "Client", short=True),
            _f("challenge", "The challenge"),
            _f("solution", "The solution"),
            _f("results", "The results"),
            _f("url", "Link to the full case study", required=False, short=True),
        ),
        body=(
            "How {client} met its challenge.\n\nThe challenge: {challenge}\n\nThe solution: {solution}\n\n"
            "The results: {results}\n\nRead the full case study: {url}"
        ),
        title_pattern="Case study: {client}",
    ),
    ContentTemplate(
        name="hiring",
        title="Hiring",
        description="Announce an open position.",
        fields=(
            _f("role", "Role", short=True),
            _f("team", "Team", short=True),
            _f("responsibilities", "What the person will do"),
            _f("requirements", "What we are looking for", required=False),
            _f("location", "Location or remote", required=False, short=True),
            _f("apply_url", "Application link", required=False, short=True),
        ),
        body=(
            "We are hiring a {role} to join the {team} team.\n\nWhat you will do: {responsibilities}\n\n"
            "What we are looking for: {requirements}\n\nLocation: {location}\n\nApply here: {apply_url}"
        ),
        title_pattern="We are hiring: {role}",
    ),
)


def _placeholders(pattern: str) -> list[str]:
    """Field names in `pattern`; ValueError for anything but plain `{name}` placeholders."""
    names = []
    for _literal, field_name, format_spec, conversion in string.Formatter().parse(pattern):
        if field_name is None:
            continue
        if not NAME_RE.match(field_name) or format_spec or conversion:
            raise ValueError(f"placeholder {{{field_name}}} is not a plain field name")
        names.append(field_name)
    return names


def _configured_template(entry: object) -> ContentTemplate:
    """One `workflow_templates` entry; ValueError saying what is wrong with it."""
    if not isinstance(entry, dict):
        raise ValueError("an entry is not an object")
    name = entry.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValueError(f"name {name!r} is not lower_snake_case")
    body = entry.get("body")
    if not isinstance(body, str) or not body.strip():
        raise ValueError(f"{name}: body is missing")
    raw_fields = entry.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        raise ValueError(f"{name}: fields must be a non-empty list")
    fields = []
    for raw in raw_fields:
        if (
            not isinstance(raw, dict)
            or not isinstance(raw.get("name"), str)
            or not NAME_RE.match(raw["name"])
        ):
            raise ValueError(f"{name}: a field has no valid name")
        max_length = raw.get("max_length", DEFAULT_MAX_LENGTH)
        if not isinstance(max_length, int) or isinstance(max_length, bool) or not 1 <= max_length <= 50_000:
            raise ValueError(f"{name}: field {raw['name']} has an invalid max_length")
        fields.append(
            TemplateField(
                name=raw["name"],
                label=str(raw.get("label") or raw["name"].replace("_", " ").capitalize()),
                required=bool(raw.get("required", True)),
                max_length=max_length,
            )
        )
    names = {f.name for f in fields}
    if len(names) != len(fields):
        raise ValueError(f"{name}: duplicate field names")
    title_pattern = entry.get("title_pattern") or ""
    if not isinstance(title_pattern, str):
        raise ValueError(f"{name}: title_pattern is not text")
    unknown = set(_placeholders(body)) | set(_placeholders(title_pattern))
    unknown -= names
    if unknown:
        raise ValueError(f"{name}: body names unknown fields {sorted(unknown)}")
    return ContentTemplate(
        name=name,
        title=str(entry.get("title") or name.replace("_", " ").capitalize()),
        description=str(entry.get("description") or ""),
        fields=tuple(fields),
        body=body,
        title_pattern=title_pattern,
        builtin=False,
    )


def _configured_templates() -> list[ContentTemplate]:
    from core.selectors import config_get

    try:
        raw = config_get(key=CONFIG_KEY)
    except (ValueError, TypeError) as exc:
        logger.warning("System setting %s is not valid JSON (%s); ignoring it.", CONFIG_KEY, exc)
        return []
    if raw is None:
        return []
    if not isinstance(raw, list):
        logger.warning("System setting %s is not a JSON list; ignoring it.", CONFIG_KEY)
        return []
    builtin_names = {t.name for t in BUILTIN_TEMPLATES}
    templates: list[ContentTemplate] = []
    for entry in raw:
        try:
            template = _configured_template(entry)
        except ValueError as exc:
            logger.warning("Skipping a template in system setting %s: %s.", CONFIG_KEY, exc)
            continue
        if template.name in builtin_names or any(t.name == template.name for t in templates):
            logger.warning(
                "Skipping template %r in system setting %s: the name is taken.", template.name, CONFIG_KEY
            )
            continue
        templates.append(template)
    return templates


def template_list() -> list[ContentTemplate]:
    """Built-in templates, then the valid ones from the `workflow_templates` setting."""
    return [*BUILTIN_TEMPLATES, *_configured_templates()]


def template_get(*, name: str) -> ContentTemplate | None:
    return next((t for t in template_list() if t.name == name), None)


def _error(errors: dict[str, str]) -> ValidationError:
    return ValidationError({f"{ERROR_PREFIX}.{key}": message for key, message in errors.items()})


def template_render(*, name: str, fields: dict) -> SourceMaterial:
    """Validate `fields` against template `name` and render its source material."""
    template = template_get(name=name) if isinstance(name, str) else None
    if template is None:
        known = ", ".join(t.name for t in template_list())
        raise _error({"name": f"Unknown template {name!r}; choose one of: {known}."})
    if not isinstance(fields, dict):
        raise _error({"fields": "Fields must be an object of field names to text."})

    errors: dict[str, str] = {}
    values: dict[str, str] = {}
    for key in fields:
        if template.field(str(key)) is None:
            errors[f"fields.{key}"] = f"Unknown field for template {template.name!r}."
    validate_url = URLValidator(schemes=["http", "https"])
    for spec in template.fields:
        raw = fields.get(spec.name)
        if raw is None:
            value = ""
        elif isinstance(raw, str | int | float) and not isinstance(raw, bool):
            value = str(raw).strip()
        else:
            errors[f"fields.{spec.name}"] = "Must be text."
            continue
        if not value and spec.required:
            errors[f"fields.{spec.name}"] = f"{spec.label} is required."
        elif len(value) > spec.max_length:
            errors[f"fields.{spec.name}"] = f"At most {spec.max_length} characters (got {len(value)})."
        elif value and spec.is_url:
            try:
                validate_url(value)
            except ValidationError:
                errors[f"fields.{spec.name}"] = "Enter a valid http(s) URL."
        values[spec.name] = value
    if errors:
        raise _error(errors)

    lines = []
    for line in template.body.splitlines():
        used = _placeholders(line)
        if used and all(not values.get(n) for n in used):
            continue  # every value on this line is an empty optional field
        lines.append(line.format_map(values))
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    title = template.title_pattern.format_map(values).strip() if template.title_pattern else template.title
    urls = tuple(dict.fromkeys(values[f.name] for f in template.fields if f.is_url and values.get(f.name)))
    return SourceMaterial(text=text, title=title, urls=urls)
