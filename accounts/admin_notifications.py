"""The admin's "Notifications" page: a person's own notifications, newest first, with mark read and
mark all read. Nobody sees another person's, whatever their role: the page reads only the signed-in
person's rows (accounts.selectors.notifications_of). Linked, with the unread count, from the user
tools at the top of every admin page (templates/admin/base_site.html).
"""

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods

from accounts.selectors import notifications_of, notifications_unread_count
from accounts.services.notifications import notifications_mark_read

PAGE_SIZE = 50


@require_http_methods(["GET", "POST"])
def notifications_view(request):
    user = request.user
    if request.method == "POST":
        if "mark_all" in request.POST:
            count = notifications_mark_read(user=user)
        else:
            ids = [int(value) for value in request.POST.getlist("ids") if value.isdigit()]
            count = notifications_mark_read(user=user, ids=ids) if ids else 0
        messages.success(request, f"Marked {count} notification{'s' if count != 1 else ''} read.")
        return redirect(request.get_full_path())
    unread_only = request.GET.get("unread") == "1"
    rows = notifications_of(user=user)
    if unread_only:
        rows = rows.filter(read_at__isnull=True)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        **admin.site.each_context(request),
        "title": "Notifications",
        "page": page,
        "unread_only": unread_only,
        "unread": notifications_unread_count(user=user),
    }
    return TemplateResponse(request, "admin/accounts/notifications.html", context)


notifications = admin.site.admin_view(notifications_view)
