"""LinkedIn: posts through the versioned REST API, as a member or an organization page."""

import re
from typing import Any

from platforms.kinds.base import Form, Kind, WritingRules

AUTHOR_URN = re.compile(r"^urn:li:(person|organization):[A-Za-z0-9_-]+$")
API_VERSION = re.compile(r"^\d{6}$")

LINKEDIN_WRITING = WritingRules(
    name="LinkedIn",
    form=Form.LONG_POST,
    text_limit=3000,
    hashtags=(3, 5),
    hashtags_by_length=(3, 4, 5),
    guide=(
        "LinkedIn: at most {limit} characters; a one-line hook on its own line; short paragraphs; an "
        "optional bullet list of key points; end with a call to action or a question; 3-5 hashtags "
        "on the last line."
    ),
)


class LinkedInKind(Kind):
    type = "linkedin"
    label = "LinkedIn"
    target = "linkedin"
    writing = LINKEDIN_WRITING
    can_edit_posts = True
    verifiable = True

    def connection_errors(self, *, username: str | None, extra: dict[str, Any]) -> dict[str, str]:
        """The author URN may be left out: verifying learns the member's (urn:li:person:{sub}), and
        publishing without one fails with a clear message; an organization page must be given."""
        errors: dict[str, str] = {}
        urn = extra.get("author_urn")
        if urn is not None and not (isinstance(urn, str) and AUTHOR_URN.match(urn)):
            errors["extra"] = (
                "author_urn must look like urn:li:person:<id> or urn:li:organization:<id> "
                "(leave it out to learn the member's by verifying)."
            )
        version = extra.get("linkedin_version")
        if version is not None and not (isinstance(version, str) and API_VERSION.match(version)):
            errors["extra"] = "linkedin_version is a LinkedIn API version like 202411 (YYYYMM)."
        return errors

    def verify(self, connection, *, timeout: float):
        account, _ = super().verify(connection, timeout=timeout)
        extra = connection.extra if isinstance(connection.extra, dict) else {}
        # The member's own URN is the author when none was given.
        return account, ({} if extra.get("author_urn") else {"author_urn": account.acct})

    def publisher_class(self):
        from platforms.kinds.linkedin.publisher import LinkedInPublisher

        return LinkedInPublisher


KIND = LinkedInKind()
