from django.db.models import QuerySet

from accounts.permissions import sees_everyone


def visible_to(queryset: QuerySet, *, user, owner_field: str = "user") -> QuerySet:
    """Scope a queryset to what `user` may see: everything for moderators and admins, else their own."""
    if sees_everyone(user):
        return queryset
    return queryset.filter(**{owner_field: user})
