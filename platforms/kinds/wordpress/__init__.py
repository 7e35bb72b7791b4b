"""WordPress: blog articles through the REST API with an application password."""

from typing import Any

from platforms.kinds.base import BLOG_WRITING, Kind

OPTION_KEYS = ("status", "category", "tags", "hashtags_as_tags")


class WordPressKind(Kind):
    type = "wordpress"
    label = "WordPress"
    target = "blog"
    writing = BLOG_WRITING
    can_edit_posts = True
    verifiable = True
    publishing_option_keys = OPTION_KEYS

    def connection_errors(self, *, username: str | None, extra: dict[str, Any]) -> dict[str, str]:
        errors: dict[str, str] = {}
        if not (username or "").strip():
            errors["username"] = (
                "A WordPress connection needs the WordPress user name of the application password."
            )
        problems = self.publishing_option_errors(extra)
        if problems:
            errors["extra"] = " ".join(problems.values())
        return errors

    def publishing_option_errors(self, options: dict[str, Any]) -> dict[str, str]:
        from platforms.kinds.wordpress.publisher import wordpress_option_errors

        return wordpress_option_errors(options)

    def publisher_class(self):
        from platforms.kinds.wordpress.publisher import WordPressPublisher

        return WordPressPublisher


KIND = WordPressKind()
