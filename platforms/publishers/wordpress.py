"""Publishing a blog post on WordPress through its REST API: POST {site}/wp-json/wp/v2/posts with
HTTP Basic auth (the connection's username and an application password as access token).

The markdown draft becomes HTML with the `markdown` package; its first `# title` line is the title
when the publication has none (and is then left out of the body). The slug is deterministic (the
slugified title plus the first 8 characters of the idempotency key), which is what makes a lost
answer recoverable: WordPress has no idempotency key, so before posting again the post is looked
up by slug in every status (publish, future, draft, pending, private) and returned when found.

Sites without pretty permalinks serve the API only under `?rest_route=`; they are not supported.
"""

import re

import markdown
from django.utils.text import slugify

from platforms.clients import PlatformAccount
from platforms.publishers.base import HttpPublisher, Publication, Published, connection_timeout

MARKDOWN_EXTENSIONS = ("extra", "sane_lists")
LOOKUP_STATUSES = "publish,future,draft,pending,private"
_TITLE = re.compile(r"\A\s*#[ \t]+(?P<title>[^\n]+?)[ \t#]*(?:\n|\Z)")


def wordpress_parts(publication: Publication) -> tuple[str, str, str]:
    """(title, content HTML, slug) of a publication."""
    text = publication.text or ""
    title = (publication.title or "").strip()
    match = _TITLE.match(text)
    if match:
        if not title:
            title = match.group("title").strip()
        text = text[match.end() :]
    html = markdown.markdown(text.strip(), extensions=list(MARKDOWN_EXTENSIONS), output_format="html")
    key = re.sub(r"[^a-z0-9]", "", publication.idempotency_key.lower())[:8]
    base = slugify(title)[:80].strip("-") or "post"
    return title, html, f"{base}-{key}" if key else base


class WordPressPublisher(HttpPublisher):
    platform_type = "wordpress"

    def __init__(self, *, site_url: str, username: str, application_password: str, **kwargs):
        super().__init__(base_url=site_url, auth=(username or "", application_password), **kwargs)

    @classmethod
    def from_connection(cls, connection, *, timeout: float | None = None, **kwargs) -> "WordPressPublisher":
        return cls(
            site_url=connection.instance_url,
            username=connection.username or "",
            application_password=connection.access_token,
            timeout=connection_timeout(connection, timeout),
            **kwargs,
        )

    @property
    def api(self) -> str:
        return f"{self.base_url}/wp-json/wp/v2"

    def account(self) -> PlatformAccount:
        """The user of the application password: GET /wp-json/wp/v2/users/me?context=edit (one attempt)."""
        what = "the user of the application password"
        user = self._json(
            self._send("GET", f"{self.api}/users/me", what=what, params={"context": "edit"}), what=what
        )
        if not isinstance(user, dict) or user.get("id") in (None, ""):
            raise self._malformed(what, "does not describe a user")
        username = str(user.get("username") or user.get("slug") or "")
        return PlatformAccount(
            id=str(user["id"]),
            username=username,
            acct=username,
            display_name=str(user.get("name") or ""),
            url=str(user.get("link") or ""),
        )

    def _post_once(self, publication: Publication) -> Published:
        title, html, slug = wordpress_parts(publication)
        payload = {"title": title, "content": html, "status": "publish", "slug": slug}
        response = self._send("POST", f"{self.api}/posts", what="the new post", json=payload)
        post = self._json(response, what="the new post", ambiguous=True)
        if not isinstance(post, dict) or post.get("id") in (None, ""):
            raise self._malformed("the new post", "does not describe a post", ambiguous=True)
        return self._published(post, http_status=response.status_code)

    def _find_once(self, publication: Publication) -> Published | None:
        _, _, slug = wordpress_parts(publication)
        response = self._send(
            "GET",
            f"{self.api}/posts",
            what="the posts with this slug",
            params={"slug": slug, "status": LOOKUP_STATUSES, "context": "edit"},
        )
        posts = self._json(response, what="the posts with this slug")
        if not isinstance(posts, list):
            raise self._malformed("the posts with this slug", "is not a list of posts")
        for post in posts:
            if isinstance(post, dict) and post.get("id") not in (None, ""):
                return self._published(post, http_status=None)
        return None

    def _detail(self, response) -> str | None:
        # WordPress errors: {"code": "rest_invalid_param", "message": "...", "data": {...}}
        try:
            body = response.json()
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        parts = [body.get("code"), body.get("message")]
        return ": ".join(str(p) for p in parts if isinstance(p, str) and p)[:200] or None

    def _published(self, post: dict, *, http_status: int | None) -> Published:
        details = {"status": http_status}
        if post.get("status"):
            details["post_status"] = str(post["status"])
        return Published(
            post_id=str(post["id"]),
            url=str(post.get("link") or "") or None,
            platform_type=self.platform_type,
            details=details,
        )
