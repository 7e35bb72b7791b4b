"""The one list of networks: the `PlatformType` enum, the workflow targets, and the kind of each.

Adding a network: its folder under `platforms/kinds/`, one line in `PlatformType` and one in
`_KINDS` here, a migration for the choices, and its tests (docs/adding-a-network.md).

Two enums, on purpose, both here. `PlatformType` is what a connection is (stored on
`platform_connections.platform_type`). `Target` is what a workflow writes for (stored on workflow
platform states, drafts, publishing jobs and checkpoints; seed values and an API contract), and
`workflows.models.Platform` is this class. They cannot be one enum without changing stored values:
the `blog` target is served by two kinds (WordPress and the webhook) and the `mastodon` target by
four (the Mastodon-compatible family). The relation is derived from each kind's `target`, never
kept in a table: `kinds_for_target(Target.BLOG)` are the connection types that can publish it.
"""

from django.db import models

from platforms.kinds import bluesky, imagefx, linkedin, mastodon, webhook, wordpress, x
from platforms.kinds.base import Kind, WritingRules
from platforms.kinds.media import MediaRules, media_rules_loosest


class PlatformType(models.TextChoices):
    MASTODON = "mastodon", "Mastodon"
    PIXELFED = "pixelfed", "Pixelfed"
    PLEROMA = "pleroma", "Pleroma / Akkoma"
    GOTOSOCIAL = "gotosocial", "GoToSocial"
    X = "x", "X"
    LINKEDIN = "linkedin", "LinkedIn"
    WORDPRESS = "wordpress", "WordPress"
    WEBHOOK = "webhook", "Blog webhook"
    IMAGEFX = "imagefx", "Google ImageFX"
    BLUESKY = "bluesky", "Bluesky"


class Target(models.TextChoices):
    """What a workflow writes for (`workflows.models.Platform`)."""

    LINKEDIN = "linkedin", "LinkedIn"
    X = "x", "X"
    BLOG = "blog", "Blog"
    MASTODON = "mastodon", "Mastodon"
    BLUESKY = "bluesky", "Bluesky"


_KINDS: dict[str, Kind] = {
    kind.type: kind
    for kind in (
        *mastodon.KINDS,
        x.KIND,
        linkedin.KIND,
        wordpress.KIND,
        webhook.KIND,
        imagefx.KIND,
        bluesky.KIND,
    )
}


def _check() -> dict[str, WritingRules]:
    """Every enum value has a kind and the other way round; every target's kinds agree on rules."""
    if set(_KINDS) != set(PlatformType.values):
        raise RuntimeError(
            f"PlatformType and the kinds differ: {sorted(set(_KINDS) ^ set(PlatformType.values))}"
        )
    for value, label in PlatformType.choices:
        if _KINDS[value].label != label:
            raise RuntimeError(f"The {value} kind's label is not PlatformType's {label!r}.")
    rules: dict[str, WritingRules] = {}
    for kind in _KINDS.values():
        if kind.target is None:
            continue
        if kind.target not in Target.values or kind.writing is None:
            raise RuntimeError(
                f"The {kind.type} kind publishes to an unknown target or has no writing rules."
            )
        if rules.setdefault(kind.target, kind.writing) != kind.writing:
            raise RuntimeError(f"The kinds publishing to {kind.target} disagree on the writing rules.")
    if set(rules) != set(Target.values):
        raise RuntimeError(f"No kind publishes to {sorted(set(Target.values) - set(rules))}.")
    return rules


_RULES = _check()


def kind_of(platform_type: str) -> Kind:
    """The kind of a connection's `platform_type`; ValueError for an unknown one."""
    try:
        return _KINDS[platform_type]
    except KeyError:
        raise ValueError(f"Unknown platform type {platform_type!r}.") from None


def kinds() -> tuple[Kind, ...]:
    return tuple(_KINDS.values())


def kinds_for_target(target: str) -> frozenset[str]:
    """The connection types that can publish to a workflow target (empty for an unknown one)."""
    return frozenset(kind.type for kind in _KINDS.values() if kind.target == target)


def writing_rules(target: str) -> WritingRules:
    """How drafts for a workflow target are written; ValueError for an unknown target."""
    try:
        return _RULES[target]
    except KeyError:
        raise ValueError(
            f"Unknown platform {target!r}; expected one of {', '.join(Target.values)}."
        ) from None


def mastodon_api_types() -> frozenset[str]:
    """The connection types that speak the Mastodon client API (captions read and write alt text)."""
    return frozenset(kind.type for kind in _KINDS.values() if kind.speaks_mastodon_api)


def media_client_for(connection, **kwargs):
    """The connection's media client (no request is made): `kind_of(...).media_client(...)`."""
    return kind_of(connection.platform_type).media_client(connection, **kwargs)


def media_rules_for_target(target: str) -> MediaRules:
    """What a post for `target` may carry on at least one of the target's networks (each one's
    documented defaults; `media_rules_loosest`). The publishing connection's own kind is checked
    again before a job publishes."""
    return media_rules_loosest([kind.media for kind in _KINDS.values() if kind.target == target])
