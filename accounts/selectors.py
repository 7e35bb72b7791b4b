from django.db.models import QuerySet

from accounts.permissions import reviews_everyone, sees_everyone


def visible_to(queryset: QuerySet, *, user, owner_field: str = "user") -> QuerySet:
    """Scope a queryset to what `user` may see: everything for moderators and admins, else their own."""
    if sees_everyone(user):
        return queryset
    return queryset.filter(**{owner_field: user})


def reviewable_by(queryset: QuerySet, *, user, owner_field: str = "user") -> QuerySet:
    """Scope a review queue (caption images, drafts) to what `user` may review: everything for
    reviewers, moderators and admins, else their own. Only for the review queues: for every other
    model a reviewer sees their own (`visible_to`)."""
    if reviews_everyone(user):
        return queryset
    return queryset.filter(**{owner_field: user})


def notifications_of(*, user) -> QuerySet:
    """A person's own notifications, newest first (nobody reads another's, whatever the role)."""
    from accounts.models import Notification

    return Notification.objects.filter(user=user, in_admin=True).order_by("-created_at", "-id")


def notifications_unread_count(*, user) -> int:
    return notifications_of(user=user).filter(read_at__isnull=True).count()


def notification_deliveries_of(*, user) -> QuerySet:
    """The delivery log of a person's own notifications (email and webhook), newest first."""
    from accounts.models import NotificationDelivery

    return (
        NotificationDelivery.objects.filter(notification__user=user)
        .select_related("notification")
        .order_by("-created_at", "-id")
    )


def notification_webhook_of(*, user):
    from accounts.models import NotificationWebhook

    return NotificationWebhook.objects.filter(user=user).first()
