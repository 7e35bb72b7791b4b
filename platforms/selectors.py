"""Reads of platform connections, always scoped to what the caller may see."""

from django.db.models import QuerySet

from accounts.selectors import visible_to
from platforms.models import PlatformConnection


def connection_list(*, user) -> QuerySet[PlatformConnection]:
    """The connections `user` may see: their own, or everyone's for moderators and admins."""
    return visible_to(PlatformConnection.objects.all(), user=user)


def connection_name_taken(*, owner, name: str, exclude_pk: int | None = None) -> bool:
    """Whether `owner` already has a connection called `name` (other than `exclude_pk`)."""
    queryset = PlatformConnection.objects.filter(user=owner, name=name)
    if exclude_pk is not None:
        queryset = queryset.exclude(pk=exclude_pk)
    return queryset.exists()


def connection_account_taken(
    *, owner, instance_url: str, username: str, exclude_pk: int | None = None
) -> bool:
    """Whether `owner` already connected that account of that instance (other than `exclude_pk`)."""
    queryset = PlatformConnection.objects.filter(user=owner, instance_url=instance_url, username=username)
    if exclude_pk is not None:
        queryset = queryset.exclude(pk=exclude_pk)
    return queryset.exists()


def connection_default(*, owner) -> PlatformConnection | None:
    """The owner's default connection, if one is set."""
    return PlatformConnection.objects.filter(user=owner, is_default=True).first()
