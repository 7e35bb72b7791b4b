from captions.models import CaptionGenerationUserSettings, Image

DEFAULT_MAX_CAPTION_LENGTH = 500
DEFAULT_INSTANCE_DESCRIPTION_LIMIT = 1500


def caption_length_limit(*, image: Image) -> int:
    """The longest caption this image may carry: the owner's setting, capped by the instance's
    own description limit (read from the instance by the scan and kept in the connection's extra)."""
    connection = image.platform_connection
    own_settings = CaptionGenerationUserSettings.objects.filter(
        user_id=connection.user_id, platform_connection=connection
    )
    configured = own_settings.values_list("max_caption_length", flat=True).first()
    configured = configured or DEFAULT_MAX_CAPTION_LENGTH
    instance_limit = (connection.extra or {}).get("description_limit") or DEFAULT_INSTANCE_DESCRIPTION_LIMIT
    return min(int(configured), int(instance_limit))


def caption_length_settings(*, owners_and_connections: set[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """The configured `max_caption_length` per (user id, connection id) among those given that have
    settings, in one query: a page of images needs its owners' settings once, not once an image."""
    if not owners_and_connections:
        return {}
    connection_ids = {connection_id for _, connection_id in owners_and_connections}
    rows = (
        CaptionGenerationUserSettings.objects.filter(platform_connection_id__in=connection_ids)
        .order_by()
        .values_list("user_id", "platform_connection_id", "max_caption_length")
    )
    return {
        (user_id, connection_id): length
        for user_id, connection_id, length in rows
        if (user_id, connection_id) in owners_and_connections
    }
