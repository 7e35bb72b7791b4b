"""The caption review screen: one image at a time, and a queue to walk.

- `admin:captions_image_review` (`<id>/review/`): the image large, its post's text and other images,
  the caption in an editor with a live counter against the image's real limit, the score with its
  reasons, flags, status and history; Save, Approve, Approve & post, Post, Reject, Regenerate
  (optionally with an instruction to the model) and Skip. Every button calls the service the API
  calls (captions.services.review, .posting, .generation), so transitions, limits, audit and
  idempotent posting are the same. After an action the reviewer lands on the next image in the
  queue; a failed post stays on the image, so its error can be read.
- `admin:captions_image_review_next` (`review/`): redirects to the next image awaiting review
  (pending or edited-not-approved, as the dashboard's "Awaiting review" counts them), in the
  changelist's order and honouring its filters and search when given in the query string. The
  images a reviewer skipped, saved or sent back to the model in this walk ride along in `_skip`,
  so the walk moves on instead of returning to them; the changelist's filters ride along in
  `_changelist_filters`, as on Django's own change pages.
- `admin:captions_image_preview` and `admin:captions_image_original`: a 640 px copy and the stored
  image itself, for those who may view the image, never public.

Objects come from the admin's own queryset (`get_object`), so whatever scoping the admin applies
applies here: an image the user may not see is a 404. Viewing needs the view permission; acting
needs `captions.review_image`, posting `captions.post_image_caption`; without them the page is
read-only.
"""

import mimetypes
from collections.abc import Callable
from copy import copy
from dataclasses import dataclass
from functools import partial
from html import unescape
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseNotModified,
    HttpResponseRedirect,
    QueryDict,
)
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import strip_tags
from PIL import Image as PILImage

from accounts.request_meta import request_meta
from captions.admin_repost import repost_url, repostable
from captions.images import stored_key_ok
from captions.models import CaptionGenerationUserSettings, Image, ImageStatus
from captions.prompts import INSTRUCTION_MAX_CHARS
from captions.quality import QualityReport, caption_length, caption_quality, caption_text_clean, quality_level
from captions.selectors import caption_length_limit
from captions.services import generation, posting, review
from captions.services.posting import posting_refusal
from core.errors import DomainError

# console.dashboard's "Awaiting review": captions pending review and captions edited, not approved.
AWAITING_REVIEW = (ImageStatus.PENDING, ImageStatus.REVIEWED)
PREVIEW_SIZE = 640
# The stored copies are normalised JPEG or PNG (captions.images).
ORIGINAL_TYPES = {"image/jpeg", "image/png"}
SKIP_PARAM = "_skip"
FILTERS_PARAM = "_changelist_filters"
# The walk remembers at most this many skipped images (the newest), so its URL stays short.
MAX_SKIPPED = 200
# Far above any limit: the service says what the limit is.
CAPTION_INPUT_MAX_CHARS = 10_000
NOTES_MAX_CHARS = 5000

SAVE, APPROVE, APPROVE_POST, POST, REJECT, REGENERATE = (
    "save",
    "approve",
    "approve_post",
    "post",
    "reject",
    "regenerate",
)
# The services' ValidationError fields, as the form names them.
FORM_FIELD_OF = {"reviewed_caption": "caption", "final_caption": "caption", "instruction": "instruction"}


@dataclass(frozen=True)
class Button:
    action: str
    label: str
    shortcut: str  # as listed on the page
    keys: str  # aria-keyshortcuts
    primary: bool = False


BUTTONS = {
    SAVE: Button(SAVE, "Save", "Ctrl+S", "Control+S"),
    APPROVE: Button(APPROVE, "Approve", "Ctrl+Enter", "Control+Enter", primary=True),
    APPROVE_POST: Button(APPROVE_POST, "Approve & post", "Ctrl+Shift+Enter", "Control+Shift+Enter"),
    POST: Button(POST, "Post", "Ctrl+Shift+Enter", "Control+Shift+Enter"),
    REJECT: Button(REJECT, "Reject", "Alt+Shift+R", "Alt+Shift+R"),
    REGENERATE: Button(REGENERATE, "Regenerate", "Alt+Shift+G", "Alt+Shift+G"),
}
SKIP_SHORTCUT = ("Alt+Shift+N", "Alt+Shift+N")


class CaptionReviewForm(forms.Form):
    caption = forms.CharField(
        required=False,
        strip=False,  # line breaks are the caption's; the services clean it
        max_length=CAPTION_INPUT_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 8, "class": "sd-review-caption", "spellcheck": "true"}),
    )
    instruction = forms.CharField(
        label="Instruction to the model",
        required=False,
        max_length=INSTRUCTION_MAX_CHARS,
        help_text="Optional, for Regenerate: e.g. “transcribe the sign”.",
    )
    notes = forms.CharField(
        label="Reason", required=False, max_length=NOTES_MAX_CHARS, help_text="Optional, for Reject."
    )
    action = forms.ChoiceField(choices=[(name, button.label) for name, button in BUTTONS.items()])


# --- the walk: skipped ids, filters, URLs ---------------------------------------------------------


def _skipped(request) -> list[int]:
    """The ids in `_skip`, in order, once each; anything that is not an id is ignored."""
    ids = []
    for part in request.GET.get(SKIP_PARAM, "").split(","):
        part = part.strip()
        if part.isascii() and part.isdigit() and int(part) not in ids:
            ids.append(int(part))
    return ids[-MAX_SKIPPED:]


def _query(**params) -> str:
    present = {name: value for name, value in params.items() if value}
    return f"?{urlencode(present)}" if present else ""


def review_url(image_id: int, *, filters: str = "", skipped: list[int] = ()) -> str:
    url = reverse("admin:captions_image_review", args=[image_id])
    return url + _query(**{FILTERS_PARAM: filters, SKIP_PARAM: ",".join(map(str, skipped))})


def next_url(*, filters: str = "", skipped: list[int] = ()) -> str:
    params = QueryDict(filters, mutable=True)
    if skipped:
        params[SKIP_PARAM] = ",".join(map(str, skipped[-MAX_SKIPPED:]))
    url = reverse("admin:captions_image_review_next")
    return f"{url}?{params.urlencode()}" if params else url


def changelist_url(filters: str = "") -> str:
    url = reverse("admin:captions_image_changelist")
    return f"{url}?{filters}" if filters else url


class _QueueChangeList(ChangeList):
    """The changelist's filtered, searched and ordered rows, without counting or fetching a page."""

    def get_results(self, request):
        self.result_count = self.full_result_count = None
        self.result_list = []


def _queue(model_admin, request, filters: QueryDict):
    """The images awaiting review in the changelist's order, with its filters applied."""
    list_request = copy(request)
    list_request.GET = filters
    list_display = model_admin.get_list_display(list_request)
    if model_admin.get_actions(list_request):
        list_display = ["action_checkbox", *list_display]
    changelist = _QueueChangeList(
        list_request,
        model_admin.model,
        list_display,
        model_admin.get_list_display_links(list_request, list_display),
        model_admin.get_list_filter(list_request),
        model_admin.date_hierarchy,
        model_admin.get_search_fields(list_request),
        model_admin.get_list_select_related(list_request),
        model_admin.list_per_page,
        model_admin.list_max_show_all,
        model_admin.list_editable,
        model_admin,
        model_admin.get_sortable_by(list_request),
        model_admin.search_help_text,
    )
    return changelist.queryset.filter(status__in=AWAITING_REVIEW)


def queue_view(model_admin, request):
    """Redirect to the next image awaiting review, or say that none does."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    filters = request.GET.copy()
    filters.pop(SKIP_PARAM, None)
    skipped = _skipped(request)
    try:
        images = _queue(model_admin, request, filters)
    except IncorrectLookupParameters:
        messages.warning(request, "The list's filters could not be applied; the whole queue is shown.")
        filters = QueryDict()
        images = _queue(model_admin, request, filters)
    following = images.exclude(pk__in=skipped).values_list("pk", flat=True).first()
    encoded = filters.urlencode()
    if following is not None:
        return HttpResponseRedirect(review_url(following, filters=encoded, skipped=skipped))
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Nothing awaits review",
        "changelist_url": changelist_url(encoded),
        "skipped": len(skipped),
        "restart_url": next_url(filters=encoded),
        "filtered": bool(encoded),
    }
    return TemplateResponse(request, "admin/captions/image/review_empty.html", context)


# --- the review page ------------------------------------------------------------------------------


def _post_text(html: str | None) -> str:
    """A post's HTML as plain text (paragraphs and line breaks kept); it is shown escaped."""
    text = (html or "").replace("<br>", "\n").replace("<br/>", "\n").replace("<br />", "\n")
    text = text.replace("</p>", "\n\n")
    return unescape(strip_tags(text)).strip()


def _flags(image: Image, *, length: int, limit: int) -> list[tuple[str, str]]:
    flags = []
    if image.needs_special_review:
        flags.append(("Needs special review", "" if image.reviewer_notes else "Flagged for a closer look."))
    if image.processing_error:
        flags.append(("Processing error", image.processing_error))
    if length > limit:
        flags.append(("Over limit", f"{length} characters; this image allows {limit}."))
    if not length:
        flags.append(("No caption", "The model has not written a caption yet."))
    return flags


def _wording_report(image: Image, *, limit: int) -> QualityReport | None:
    """The score of the caption as it stands when a person reworded it: the stored score is the
    generated caption's. Scored by the same rules, with the owner's optimal range."""
    text = image.current_caption
    if not text.strip() or caption_text_clean(text) == caption_text_clean(image.generated_caption):
        return None
    connection = image.platform_connection
    own_settings = CaptionGenerationUserSettings.objects.filter(
        user_id=connection.user_id, platform_connection=connection
    )
    own = own_settings.values_list("optimal_min_length", "optimal_max_length").first()
    optimal_min, optimal_max = own or (generation.DEFAULT_OPTIMAL_MIN, generation.DEFAULT_OPTIMAL_MAX)
    try:
        return caption_quality(text=text, optimal_min=optimal_min, optimal_max=optimal_max, limit=limit)
    except ValueError:  # settings outside the rules' range: no second score rather than a wrong one
        return None


def _actions_allowed(model_admin, request, image: Image) -> list[str]:
    """The buttons this person may press on this image now."""
    allowed = []
    if model_admin.has_review_permission(request):
        targets = review.TRANSITIONS[image.status]
        if ImageStatus.REVIEWED in targets:
            allowed.append(SAVE)
        if ImageStatus.APPROVED in targets:
            allowed.append(APPROVE)
            if model_admin.has_post_permission(request) and image.platform_connection.uses_mastodon_api:
                allowed.append(APPROVE_POST)
        if ImageStatus.REJECTED in targets:
            allowed.append(REJECT)
        if image.status in generation.REGENERATABLE:
            allowed.append(REGENERATE)
    if (
        image.status == ImageStatus.APPROVED
        and model_admin.has_post_permission(request)
        and image.platform_connection.uses_mastodon_api
    ):
        allowed.append(POST)
    return allowed


def _render(
    model_admin, request, image: Image, form: CaptionReviewForm, *, allowed, filters, skipped, status=200
):
    text = image.current_caption
    limit = caption_length_limit(image=image)
    length = caption_length(text)
    others = (
        model_admin.get_queryset(request)
        .filter(post_id=image.post_id)
        .exclude(pk=image.pk)
        .order_by("attachment_index", "pk")
        .only("pk", "attachment_index", "local_path", "status")
    )
    score = image.caption_quality_score
    form.fields["caption"].widget.attrs.update({"data-limit": limit, "aria-describedby": "sd-counter-line"})
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": f"Review the caption of image {image.pk}",
        "image": image,
        "post": image.post,
        "post_text": _post_text(image.post.post_content),
        "others": [(other, review_url(other.pk, filters=filters, skipped=skipped)) for other in others],
        "form": form,
        "limit": limit,
        "length": length,
        "over_limit": length > limit,
        "score": score,
        "level": None if score is None else quality_level(score),
        "reasons": [line for line in (image.reviewer_notes or "").splitlines() if line.strip()],
        "wording": _wording_report(image, limit=limit),
        "flags": _flags(image, length=length, limit=limit),
        "buttons": [BUTTONS[name] for name in BUTTONS if name in allowed],
        "may_act": bool(allowed),
        "skip_url": next_url(filters=filters, skipped=[*skipped, image.pk]),
        "skip_shortcut": SKIP_SHORTCUT,
        "changelist_url": changelist_url(filters),
        "change_url": reverse("admin:captions_image_change", args=[image.pk]),
        "preview_url": reverse("admin:captions_image_preview", args=[image.pk]),
        "original_url": reverse("admin:captions_image_original", args=[image.pk]),
        "has_stored_copy": stored_key_ok(image.local_path),
        # Bluesky: no "Post" button; the reason and the way to a repost with alt text instead.
        "posting_refusal": posting_refusal(image.platform_connection) if repostable(image.post) else None,
        "repost_url": repost_url(image.post) if repostable(image.post) else None,
    }
    return TemplateResponse(request, "admin/captions/image/review.html", context, status=status)


def review_view(model_admin, request, object_id):
    image = model_admin.get_object(request, unquote(object_id))
    if image is None:
        raise Http404("No such image.")
    if not model_admin.has_view_permission(request, image):
        raise PermissionDenied
    filters = request.GET.get(FILTERS_PARAM, "")
    skipped = _skipped(request)
    allowed = _actions_allowed(model_admin, request, image)
    page = partial(_render, model_admin, request, image, allowed=allowed, filters=filters, skipped=skipped)
    if request.method != "POST":
        return page(CaptionReviewForm(initial={"caption": image.current_caption}))

    form = CaptionReviewForm(request.POST)
    action = request.POST.get("action")
    if action in BUTTONS and action not in allowed:
        if not model_admin.has_review_permission(request) or (
            action in (POST, APPROVE_POST) and not model_admin.has_post_permission(request)
        ):
            raise PermissionDenied
        status = image.get_status_display().lower()
        messages.error(request, f"This caption is {status}: “{BUTTONS[action].label}” is not possible now.")
        return page(form, status=409)
    if not form.is_valid():
        return page(form, status=400)
    try:
        outcome = _act(request, image, action, form.cleaned_data)
    except ValidationError as exc:
        by_field = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
        for field, errors in by_field.items():
            form.add_error(FORM_FIELD_OF.get(field), errors)
        return page(form, status=400)
    except DomainError as exc:
        # Most often someone else changed the image meanwhile: show it as it is now, with the
        # typed text kept.
        messages.error(request, exc.message)
        image = model_admin.get_object(request, unquote(object_id)) or image
        allowed = _actions_allowed(model_admin, request, image)
        return _render(
            model_admin, request, image, form, allowed=allowed, filters=filters, skipped=skipped, status=409
        )

    level, message, stay = outcome
    messages.add_message(request, level, message)
    if stay:
        return HttpResponseRedirect(review_url(image.pk, filters=filters, skipped=skipped))
    fresh_status = Image.objects.filter(pk=image.pk).values_list("status", flat=True).first()
    if fresh_status in AWAITING_REVIEW:  # still in the queue: the walk moves past it
        skipped = [*skipped, image.pk]
    return HttpResponseRedirect(next_url(filters=filters, skipped=skipped))


def _changed_text(image: Image, submitted: str) -> str | None:
    """The submitted caption when it differs from what approving would take anyway, else None."""
    unchanged = image.reviewed_caption or image.generated_caption
    return None if caption_text_clean(submitted) == caption_text_clean(unchanged) else submitted


def _post_outcome(image: Image, *, approved: bool) -> tuple[int, str, bool]:
    done = "Approved and posted" if approved else "Posted"
    if getattr(image, "post_changes", None):
        return (
            messages.ERROR,
            f"The caption was written, but the server changed the post: {image.processing_error}",
            True,
        )
    if image.status == ImageStatus.ERROR:
        prefix = "Approved, but not posted" if approved else "Not posted"
        return messages.ERROR, f"{prefix}: {image.processing_error}", True
    return messages.SUCCESS, f"{done} the caption of image {image.pk}.", False


def _act(request, image: Image, action: str, data: dict) -> tuple[int, str, bool]:
    """Call the service for `action`; (message level, message, stay on this image)."""
    meta = request_meta(request)
    user = request.user
    if action == SAVE:
        image = review.caption_edit(image=image, editor=user, text=data["caption"], meta=meta)
        return messages.SUCCESS, f"Saved the caption of image {image.pk}; approve it to post it.", False
    if action == APPROVE:
        text = _changed_text(image, data["caption"])
        image = review.caption_approve(image=image, reviewer=user, text=text, meta=meta)
        return messages.SUCCESS, f"Approved the caption of image {image.pk}.", False
    if action == APPROVE_POST:
        text = _changed_text(image, data["caption"])
        image = posting.caption_approve_and_post(image=image, reviewer=user, text=text, meta=meta)
        return _post_outcome(image, approved=True)
    if action == POST:
        image = posting.caption_post(image=image, actor=user, meta=meta)
        return _post_outcome(image, approved=False)
    if action == REJECT:
        image = review.caption_reject(image=image, reviewer=user, notes=data["notes"] or None, meta=meta)
        return messages.SUCCESS, f"Rejected the caption of image {image.pk}.", False
    if action == REGENERATE:
        instruction = data["instruction"] or None
        image = generation.caption_regenerate(image=image, actor=user, instruction=instruction, meta=meta)
        return (
            messages.SUCCESS,
            f"Asked the model for a new caption of image {image.pk}; it returns to the queue once written.",
            False,
        )
    raise Http404("No such action.")  # unreachable: the form's choices


# --- the pictures ---------------------------------------------------------------------------------


def preview_view(
    model_admin,
    request,
    object_id,
    *,
    thumbnail_bytes: Callable[..., tuple[bytes, str]],
    size: int = PREVIEW_SIZE,
):
    """A copy of the stored image at most `size` px (640: the review page's; the list's
    thumbnails are this view at their size), for those who may view the image; never public."""
    image = _viewable(model_admin, request, object_id)
    key = image.local_path
    if not stored_key_ok(key):
        raise Http404("No stored copy.")
    etag = f'"thumb{size}-' + key.rsplit("/", 1)[-1].split(".")[0] + '"'
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponseNotModified()
    else:
        try:
            data, content_type = thumbnail_bytes(key, size=size)
        except (OSError, ValueError, SyntaxError, PILImage.DecompressionBombError):
            raise Http404("The stored copy is missing or unreadable.") from None
        response = HttpResponse(data, content_type=content_type)
    response["ETag"] = etag
    response["Cache-Control"] = "private, max-age=86400"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def original_view(model_admin, request, object_id):
    """The stored image itself, for those who may view it (headers as the API's `content`: the
    stored name is a content hash, so it is a strong ETag; a sandbox policy, no sniffing)."""
    image = _viewable(model_admin, request, object_id)
    key = image.local_path
    if not stored_key_ok(key):
        raise Http404("No stored copy.")
    etag = '"' + key.rsplit("/", 1)[-1].split(".")[0] + '"'
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponseNotModified()
    else:
        content_type = mimetypes.guess_type(key)[0]
        if content_type not in ORIGINAL_TYPES:
            raise Http404("The stored copy is not an image this page shows.")
        try:
            response = FileResponse(default_storage.open(key, "rb"), content_type=content_type)
        except OSError:
            raise Http404("The stored copy is missing.") from None
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["ETag"] = etag
    response["Cache-Control"] = "private, max-age=86400"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _viewable(model_admin, request, object_id) -> Image:
    image = model_admin.get_object(request, unquote(object_id))
    if image is None:
        raise Http404("No such image.")
    if not model_admin.has_view_permission(request, image):
        raise PermissionDenied
    return image


def review_urls(model_admin, *, thumbnail_bytes) -> list:
    """The review screen's URLs, to go before the ModelAdmin's own (whose `<path:object_id>/`
    would take `review/`)."""
    wrap = model_admin.admin_site.admin_view
    return [
        path("review/", wrap(partial(queue_view, model_admin)), name="captions_image_review_next"),
        path(
            "<path:object_id>/review/", wrap(partial(review_view, model_admin)), name="captions_image_review"
        ),
        path(
            "<path:object_id>/preview/",
            wrap(partial(preview_view, model_admin, thumbnail_bytes=thumbnail_bytes)),
            name="captions_image_preview",
        ),
        path(
            "<path:object_id>/original/",
            wrap(partial(original_view, model_admin)),
            name="captions_image_original",
        ),
    ]


class ReviewChangeList(ChangeList):
    """The image changelist, whose rows open the review page (the change page is linked from it)."""

    def url_for_result(self, result):
        return reverse("admin:captions_image_review", args=[result.pk])


# --- bulk approve, confirmed first ----------------------------------------------------------------

CONFIRM_SHOWN = 100


def approve_confirmation(model_admin, request, images):
    """What "Approve selected captions" would approve, before it does (Django's delete_selected
    pattern: the same action posted again with `post=yes` approves)."""
    # The rows caption_bulk_approve changes: approvable, with a caption to approve.
    approvable = images.filter(status__in=review.APPROVABLE).exclude(
        reviewed_caption__isnull=True, generated_caption__isnull=True
    )
    shown = list(images.select_related("post").order_by("-created_at", "-pk")[:CONFIRM_SHOWN])
    approvable_ids = set(approvable.filter(pk__in=[image.pk for image in shown]).values_list("pk", flat=True))
    selected = request.POST.getlist("_selected_action")
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Approve these captions?",
        "rows": [(image, image.pk in approvable_ids) for image in shown],
        "total": images.count(),
        "approvable": approvable.count(),
        "shown": len(shown),
        "selected": selected,
        "select_across": request.POST.get("select_across", "0"),
        "action_checkbox_name": "_selected_action",
        "changelist_url": changelist_url(request.GET.urlencode()),
    }
    return TemplateResponse(request, "admin/captions/image/approve_selected_confirmation.html", context)
