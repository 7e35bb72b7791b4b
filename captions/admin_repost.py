"""The admin's "Repost with alt text" page (networks whose posts cannot be edited: Bluesky).

GET shows what will happen: a new post with the same text and images, each with the alt text
listed (approved captions; images that had alt text keep it), and a box, unticked, to delete the
old post afterwards. POST calls `captions.services.repost.post_repost_with_alt_text`; nothing is
done on GET. Needs `captions.post_image_caption` and a post the person may see.
"""

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.request_meta import request_meta
from captions.models import Post
from captions.selectors import repost_plan
from captions.services.repost import post_repost_with_alt_text
from core.errors import Conflict, DomainError


def repostable(post: Post) -> bool:
    """The post's network cannot take descriptions on existing posts, but its scan lists them."""
    connection = post.platform_connection
    return connection.has_caption_scan and not connection.describes_media


def repost_url(post: Post) -> str:
    return reverse("admin:captions_post_repost", args=[post.pk])


def repost_link(post: Post) -> str:
    """The post admin's link to the confirmation page, or why there is none."""
    if post.pk is None or not repostable(post):
        return "—"
    if post.repost_uri:
        if post.original_deleted_at is None:
            return format_html('Reposted. <a href="{}">Delete the original…</a>', repost_url(post))
        return "Reposted; the original was deleted."
    return format_html('<a class="button" href="{}">Repost with alt text…</a>', repost_url(post))


def repost_urls(model_admin) -> list:
    view = model_admin.admin_site.admin_view(
        lambda request, object_id: repost_view(model_admin, request, object_id)
    )
    return [path("<path:object_id>/repost/", view, name="captions_post_repost")]


def repost_view(model_admin, request, object_id):
    post = model_admin.get_object(request, unquote(object_id))
    if post is None:
        raise Http404("No such post.")
    if not model_admin.has_post_permission(request) or not model_admin.has_view_permission(request, post):
        raise PermissionDenied
    change_url = reverse("admin:captions_post_change", args=[post.pk])
    status = 200
    if request.method == "POST":
        delete_original = request.POST.get("delete_original") == "on"
        try:
            post = post_repost_with_alt_text(
                post=post, actor=request.user, delete_original=delete_original, meta=request_meta(request)
            )
        except DomainError as exc:
            messages.error(request, str(exc))
            status = 409 if isinstance(exc, Conflict) else 502
            post = Post.objects.select_related("platform_connection").get(pk=post.pk)
        else:
            text = f"The new post was created: {post.repost_url or post.repost_uri}."
            if post.original_deleted_at is not None:
                text += " The original post was deleted."
            messages.success(request, text)
            return HttpResponseRedirect(change_url)
    rows = repost_plan(post=post)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Repost with alt text",
        "post": post,
        "network": post.platform_connection.get_platform_type_display(),
        "rows": rows,
        "ready": bool(rows) and all(row.ready for row in rows) and repostable(post),
        "repostable": repostable(post),
        "change_url": change_url,
    }
    return TemplateResponse(request, "admin/captions/post/repost_confirmation.html", context, status=status)
