"""Starting a scraping job in the admin, reading its options, watching it run, downloading what it
stored.

The job form types what a person enters (keywords and URLs one per line, paper indexes as
checkboxes, limits as numbers showing their ranges, dates, a checkbox for robots.txt) and hands it
to `scraping_job_create`, the service the API's create endpoint calls: it validates everything
(scraping.job_options holds the rules and ranges, which the form only displays) before it writes,
and queues the run once the transaction commits. What it refuses shows next to the field.

The job's change page shows its options as readable fields (parsed back by
`job_settings_parse`), its live progress (core.admin_progress) and a Cancel button
(`scraping_job_cancel`); an artifact's page has a Download button (scraping.downloads), answered
only for artifacts the admin's queryset and `visible_to` let the user see.
"""

from __future__ import annotations

import json
from datetime import date

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from accounts.request_meta import request_meta
from accounts.selectors import visible_to
from core.admin_progress import Progress, progress_context, progress_urls, visible_object
from core.admin_start import start_view, validation_error_apply
from scraping.downloads import StoredFileMissing, artifact_download_response
from scraping.job_options import (
    COMMON_KEYS,
    CRAWL_DEPTH_RANGE,
    DEFAULTS,
    MAX_ITEMS_RANGE,
    PAPER_SOURCES,
    TYPE_KEYS,
    job_settings_parse,
)
from scraping.models import JobStatus, JobType, ScrapingJob
from scraping.services.jobs import KEYWORDS_MAX, KEYWORDS_REQUIRED, scraping_job_cancel, scraping_job_create

# The job type's own list of URLs, entered in the form's one URL box.
URL_KEYS = {JobType.URL_LIST: "urls", JobType.SITEMAP: "sitemap_urls", JobType.FEED: "feed_urls"}
PAPER_SOURCE_LABELS = {"arxiv": "arXiv", "crossref": "CrossRef"}
# The service's names for what it refuses -> the form's fields.
ERROR_FIELDS = {
    **{f"configuration.{key}": key for key in COMMON_KEYS},
    **{f"configuration.{key}": "urls" for key in ("urls", "sitemap_urls", "feed_urls")},
    "configuration.domains": "domains",
    "configuration.paper_sources": "paper_sources",
}
# Which rows apply to which job type (scraping/static/scraping/job_form.js hides the others).
TYPE_FIELDS = {
    job_type: sorted({"urls" if key in URL_KEYS.values() else key for key in keys})
    for job_type, keys in TYPE_KEYS.items()
}
OPTION_LABELS = {
    "max_items": "Most pages",
    "crawl_depth": "Link depth",
    "allowed_domains": "Only these sites",
    "date_from": "Published from",
    "date_to": "Published until",
    "languages": "Languages",
    "follow_robots": "Obey robots.txt",
    "urls": "URLs",
    "sitemap_urls": "Sitemaps",
    "feed_urls": "Feeds",
    "domains": "Government sites",
    "paper_sources": "Paper indexes",
}


def _range_help(text: str, bounds: tuple[int, int], default: int) -> str:
    return f"{text} From {bounds[0]} to {bounds[1]:,}; default {default}."


def _number(bounds: tuple[int, int]) -> forms.NumberInput:
    # The range is shown and offered by the browser; the service decides.
    return forms.NumberInput(attrs={"min": bounds[0], "max": bounds[1], "step": 1})


def _lines(rows: int = 4, placeholder: str = "") -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows, "cols": 60, "placeholder": placeholder})


class ScrapingJobForm(forms.Form):
    title = forms.CharField(help_text="A name for the job.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))
    job_type = forms.ChoiceField(label="What to scrape", choices=JobType.choices, initial=JobType.WEB_PAGE)
    keywords = forms.CharField(
        required=False,
        widget=_lines(placeholder="solar storage\nheat pumps"),
        help_text=f"One per line, at most {KEYWORDS_MAX}. Needed for "
        + " and ".join(sorted(JobType(value).label.lower() for value in KEYWORDS_REQUIRED))
        + "; for the others they only tag what is found.",
    )
    urls = forms.CharField(
        label="URLs",
        required=False,
        widget=_lines(placeholder="https://example.org/page"),
        help_text="One per line: the pages of a URL list, the sitemaps of a sitemap job, the feeds "
        "of a feed job.",
    )
    domains = forms.CharField(
        label="Government sites",
        required=False,
        widget=_lines(3, "example.gov"),
        help_text="One per line: host names (crawled over https) or http(s) origins. Empty: the "
        "system default.",
    )
    paper_sources = forms.MultipleChoiceField(
        label="Paper indexes",
        required=False,
        choices=[(source, PAPER_SOURCE_LABELS.get(source, source)) for source in PAPER_SOURCES],
        initial=list(PAPER_SOURCES),
        widget=forms.CheckboxSelectMultiple,
    )
    max_items = forms.IntegerField(
        label="Most pages",
        required=False,
        initial=DEFAULTS.max_items,
        widget=_number(MAX_ITEMS_RANGE),
        help_text=_range_help(
            "Candidate URLs the job processes at most.", MAX_ITEMS_RANGE, DEFAULTS.max_items
        ),
    )
    crawl_depth = forms.IntegerField(
        label="Link depth",
        required=False,
        initial=DEFAULTS.crawl_depth,
        widget=_number(CRAWL_DEPTH_RANGE),
        help_text=_range_help("Links followed from a fetched page.", CRAWL_DEPTH_RANGE, DEFAULTS.crawl_depth),
    )
    allowed_domains = forms.CharField(
        label="Only these sites",
        required=False,
        widget=_lines(2, "example.org"),
        help_text="Host names, one per line (a host also allows its subdomains). Empty: any site.",
    )
    date_from = forms.DateField(
        label="Published from", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="Published until", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    languages = forms.CharField(
        required=False,
        help_text="Language codes such as en or pt-BR, separated by commas or spaces. Empty: any language.",
    )
    follow_robots = forms.BooleanField(
        label="Obey robots.txt", required=False, initial=DEFAULTS.follow_robots
    )

    def service_arguments(self) -> dict:
        """What `scraping_job_create` takes, built from the typed fields."""
        data = self.cleaned_data
        job_type = data["job_type"]
        configuration = {
            "max_items": data.get("max_items"),
            "crawl_depth": data.get("crawl_depth"),
            "allowed_domains": _split_lines(data.get("allowed_domains")),
            "date_from": _iso(data.get("date_from")),
            "date_to": _iso(data.get("date_to")),
            "languages": data.get("languages") or None,
            "follow_robots": bool(data.get("follow_robots")),
        }
        urls = _split_lines(data.get("urls"))
        if urls is not None:
            # Entered for a type without URLs: passed on as `urls`, so the service says it does not apply.
            configuration[URL_KEYS.get(job_type, "urls")] = urls
        domains = _split_lines(data.get("domains"))
        if domains is not None:
            configuration["domains"] = domains
        sources = list(data.get("paper_sources") or [])
        if job_type == JobType.PAPER or sorted(sources) != sorted(PAPER_SOURCES):
            configuration["paper_sources"] = sources
        return {
            "title": data["title"],
            "description": data.get("description") or None,
            "job_type": job_type,
            "keywords": _split_lines(data.get("keywords")) or [],
            "configuration": {key: value for key, value in configuration.items() if value is not None},
        }


def _split_lines(text: str | None) -> list[str] | None:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines or None


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def scraping_job_start_view(model_admin, request):
    def start(form):
        try:
            return scraping_job_create(
                user=request.user, meta=request_meta(request), **form.service_arguments()
            )
        except ValidationError as exc:
            validation_error_apply(form, exc, field_map=ERROR_FIELDS)
            return None

    fieldsets = [
        (None, {"fields": ["title", "description", "job_type", "keywords"]}),
        ("Where to look", {"fields": ["urls", "domains", "paper_sources", "allowed_domains"]}),
        (
            "Limits",
            {"fields": ["max_items", "crawl_depth", "date_from", "date_to", "languages", "follow_robots"]},
        ),
    ]
    return start_view(
        model_admin,
        request,
        form_class=ScrapingJobForm,
        fieldsets=fieldsets,
        start=start,
        title="Start a scraping job",
        submit_label="Start job",
        template="admin/scraping/scrapingjob/job_form.html",
        extra_context={
            "start_intro": (
                "The job runs in the background: it finds pages (by keyword search, from your URLs, "
                "sitemaps, feeds, paper indexes or government sites), fetches them politely and keeps "
                "each as an artifact with its text."
            ),
            "type_fields_json": json.dumps(TYPE_FIELDS),
            "start_styles": ["scraping/job_form.css"],
            "start_scripts": ["scraping/job_form.js"],
        },
    )


# --- the change page: options, progress, cancel ---------------------------------------------------


def _readable(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple | list):
        return ", ".join(str(item) for item in value) if value else "any"
    if value is None:
        return "—"
    return str(value)


def job_options_html(job: ScrapingJob) -> str:
    """The job's options as a table of named values: parsed as the runner parses them, or, for
    rows the rules no longer accept (imported from the older application), as stored."""
    stored = {row.config_key: row.config_value for row in job.configurations.all()}
    try:
        settings = job_settings_parse(job_type=job.job_type, values=stored)
    except ValidationError:
        shown = [(key, value or "—") for key, value in sorted(stored.items())]
        note = "Stored as entered (not valid under today's rules)."
    else:
        keys = [key for key in OPTION_LABELS if key in COMMON_KEYS | TYPE_KEYS.get(job.job_type, frozenset())]
        shown = [(OPTION_LABELS[key], _readable(getattr(settings, key))) for key in keys]
        note = ""
    rows = format_html_join("", '<tr><th scope="row">{}</th><td>{}</td></tr>', shown)
    table = format_html('<table class="sd-job-options">{}</table>', rows)
    return format_html("{}<p class='help'>{}</p>", table, note) if note else table


def scraping_job_progress(job: ScrapingJob) -> Progress:
    stopping = job.status == JobStatus.RUNNING and job.cancel_requested
    step = (
        f"{job.processed_items} stored, {job.skipped_items} duplicates, {job.failed_items} failed "
        f"of {job.total_items} found"
    )
    if job.status == JobStatus.PENDING:
        step = "waiting for a worker"
    elif stopping:
        step += " — stopping at the next item"
    return Progress(
        status=job.status,
        status_label=job.get_status_display(),
        percent=job.progress,
        step=step,
        terminal=job.is_finished,
        cancellable=job.status == JobStatus.PENDING or (job.status == JobStatus.RUNNING and not stopping),
        error=job.error_message or "",
    )


def _scope(queryset, user):
    return visible_to(queryset, user=user)


def _cancel(job, request):
    return scraping_job_cancel(job=job, actor=request.user, meta=request_meta(request))


def scraping_job_urls(model_admin) -> list:
    return progress_urls(model_admin, snapshot=scraping_job_progress, scope=_scope, cancel=_cancel)


def scraping_job_change_context(model_admin, request, object_id) -> dict:
    try:
        job = visible_object(model_admin, request, object_id, scope=_scope)
    except (Http404, PermissionDenied):  # the change view answers these itself
        return {}
    context = progress_context(model_admin, request, job, snapshot=scraping_job_progress, cancel=True)
    artifacts = reverse("admin:scraping_artifact_changelist") + f"?job={job.pk}"
    return {
        **context,
        "sd_buttons": [{"label": "Artifacts", "url": artifacts}],
        "sd_styles": ["scraping/job_form.css"],
    }


# --- artifacts: download ------------------------------------------------------------------------


def artifact_urls(model_admin) -> list:
    def download_view(request, object_id):
        artifact = visible_object(model_admin, request, object_id, scope=_scope)
        try:
            return artifact_download_response(artifact)
        except StoredFileMissing:
            raise Http404("The stored file of this artifact is missing.") from None

    view = model_admin.admin_site.admin_view(download_view)
    return [path("<path:object_id>/download/", view, name="scraping_artifact_download")]


def artifact_change_context(model_admin, request, object_id) -> dict:
    try:
        artifact = visible_object(model_admin, request, object_id, scope=_scope)
    except (Http404, PermissionDenied):
        return {}
    url = reverse("admin:scraping_artifact_download", args=[artifact.pk])
    return {"sd_buttons": [{"label": "Download", "url": url, "download": True}]}


def artifact_download_link(artifact) -> str:
    url = reverse("admin:scraping_artifact_download", args=[artifact.pk])
    return format_html('<a href="{}" download>Download</a>', url)
