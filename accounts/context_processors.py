"""The unread notification count in the user tools of every admin page (templates/admin/base_site.html).

A callable, so the count is queried only by the pages that show it."""

from accounts.selectors import notifications_unread_count


def notifications(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"notifications_unread_count": lambda: notifications_unread_count(user=user)}
