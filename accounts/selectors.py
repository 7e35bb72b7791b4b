from dataclasses import dataclass

from django.db.models import QuerySet

from accounts.permissions import reviews_everyone, sees_everyone


@dataclass(frozen=True)
class ThroughFewRows:
    """An owner path through a relation of which each person holds only a few rows (their platform
    connections): rows are matched by the ids of the person's related rows, not through a join.

    PostgreSQL estimates a join through a table of a handful of rows from the average row, so when
    one person's connection holds a million images another person's twenty look like a third of
    the table, and their list or count walks it whole. A list of ids is estimated from the foreign
    key's own statistics and found by its index (docs/performance.md, "Owner scoping")."""

    relation: str
    owner: str = "user"

    def __str__(self) -> str:
        return f"{self.relation}__{self.owner}"

    def owned_by(self, queryset: QuerySet, *, user) -> QuerySet:
        related = queryset.model._meta.get_field(self.relation).related_model
        ids = related._default_manager.filter(**{self.owner: user}).order_by().values_list("pk", flat=True)
        return queryset.filter(**{f"{self.relation}__in": list(ids)})


# The path from a model to the user who owns its rows: a lookup ("user", "workflow__user") or a
# path through a relation each person holds few rows of.
OwnerPath = str | ThroughFewRows


def owned_by(queryset: QuerySet, *, user, owner_field: OwnerPath = "user") -> QuerySet:
    """The rows of `queryset` that belong to `user`, whatever their role."""
    if isinstance(owner_field, ThroughFewRows):
        return owner_field.owned_by(queryset, user=user)
    return queryset.filter(**{owner_field: user})


def visible_to(queryset: QuerySet, *, user, owner_field: OwnerPath = "user") -> QuerySet:
    """Scope a queryset to what `user` may see: everything for moderators and admins, else their own."""
    if sees_everyone(user):
        return queryset
    return owned_by(queryset, user=user, owner_field=owner_field)


def reviewable_by(queryset: QuerySet, *, user, owner_field: OwnerPath = "user") -> QuerySet:
    """Scope a review queue (caption images, drafts) to what `user` may review: everything for
    reviewers, moderators and admins, else their own. Only for the review queues: for every other
    model a reviewer sees their own (`visible_to`)."""
    if reviews_everyone(user):
        return queryset
    return owned_by(queryset, user=user, owner_field=owner_field)


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
