"""Publishing a blog post on WordPress through its REST API: POST {site}/wp-json/wp/v2/posts with
HTTP Basic auth (the connection's username and an application password as access token).

The markdown draft becomes HTML with the `markdown` package; its first `# title` line is the title
when the publication has none (and is then left out of the body). A line that starts with a
hashtag (`#kaffee #tokio`) stays text: Python-Markdown would read `#word` as a heading, CommonMark
and WordPress's own editor need a space after the `#`. The slug is deterministic (the title's
letters, Unicode kept as WordPress keeps it, plus the first 8 characters of the idempotency key),
which is what makes a lost answer recoverable: WordPress has no idempotency key, so before posting
again the post is looked up by slug in every status (publish, future, draft, pending, private) and
returned when found.

Publishing options (`WordPressOptions`): the post status (publish, draft or pending, so an editor
in WordPress can have the last word), a category (id, or the name of an existing one), tags (names;
created when missing) and whether the text's hashtags become tags too. They come from the
connection's `extra` and, per job, from the publication's `options` (which win).

Sites without pretty permalinks serve the API only under `?rest_route=`; they are not supported.
"""

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from html import unescape
from typing import Any
from urllib.parse import quote

import markdown
from markdown.blockprocessors import HashHeaderProcessor
from markdown.extensions import Extension

from platforms.kinds.common import PlatformAccount, PlatformAuthError, platform_error
from platforms.kinds.publishing import (
    HttpPublisher,
    Publication,
    Published,
    connection_timeout,
)

MARKDOWN_EXTENSIONS = ("extra", "sane_lists")
LOOKUP_STATUSES = "publish,future,draft,pending,private"
POST_STATUSES = ("publish", "draft", "pending")
MAX_TAGS = 20
MAX_TERM_CHARS = 100
_TITLE = re.compile(r"\A\s*#[ \t]+(?P<title>[^\n]+?)[ \t#]*(?:\n|\Z)")
# A hashtag: "#" after a space or the line start, then word characters with at least one letter
# (so "#1" and "C#" and "&#39;" and a URL's "/#anchor" are not hashtags).
_HASHTAG = re.compile(r"(?:(?<=\s)|^)#(\w*[^\W\d_]\w*)", re.MULTILINE)
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
# WordPress keeps post_name in 200 bytes of percent-encoded UTF-8; the key suffix must fit in them.
SLUG_MAX_ENCODED = 190
SLUG_MAX_CHARS = 80
# remove_accents() turns these Latin letters into ASCII, beyond what NFKD decomposition does.
_LATIN = {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ł": "l", "þ": "th", "ð": "d", "\u0131": "i"}


def _outside_code(text: str, fix) -> str:
    """`fix` applied to the lines outside fenced code blocks (inside them a `#` is code)."""
    out, chunk, fence = [], [], None
    for line in text.splitlines(keepends=True):
        match = _FENCE.match(line)
        if fence is None and match:
            out.append(fix("".join(chunk)))
            chunk, fence = [], match.group(1)
            out.append(line)
        elif fence is not None:
            out.append(line)
            if line.strip().startswith(fence[0] * len(fence)) and not line.strip().strip(fence[0]):
                fence = None
        else:
            chunk.append(line)
    out.append(fix("".join(chunk)))
    return "".join(out)


class _AtxHeading(HashHeaderProcessor):
    """A `#` heading only with a space (or nothing) after the #s, as CommonMark and WordPress's
    editor have it: `#kaffee #tokio` at a line's start (in a list or a quote too) stays text."""

    RE = re.compile(
        r"(?:^|\n)(?P<level>#{1,6})(?=[ \t]|\n|$)"  # the only change: a space after the #s
        r"(?P<header>(?:\\.|[^\\#]|#+(?=[^#\n]))*?)#*(?:\n|$)"
    )


class _HashtagsStayText(Extension):
    def extendMarkdown(self, md) -> None:
        md.parser.blockprocessors.register(_AtxHeading(md.parser), "hashheader", 70)


def hashtags_of(text: str) -> list[str]:
    """The text's hashtags without their `#`, first spelling of each (case-insensitively), in order."""
    found: list[str] = []
    _outside_code(text or "", lambda chunk: found.extend(_HASHTAG.findall(chunk)) or chunk)
    return _unique(found)


def _unique(names) -> list[str]:
    seen, out = set(), []
    for name in names:
        key = name.casefold()
        if key not in seen:
            seen.add(key)
            out.append(name)
    return out


def _plain_letter(char: str) -> str:
    lower = char.lower()
    if lower in _LATIN:
        return _LATIN[lower]
    base = unicodedata.normalize("NFKD", char)
    if base[:1].isascii() and all(unicodedata.combining(c) for c in base[1:]):
        return base[:1]  # an accented Latin letter: remove_accents() keeps the letter
    return char


def wordpress_slug(title: str) -> str:
    """The title's slug as WordPress's editor makes it: accents off Latin letters, other scripts
    kept (WordPress stores them percent-encoded), lower case, spaces and dashes as one "-", other
    punctuation dropped."""
    letters = []
    for char in unicodedata.normalize("NFC", title or ""):
        char = _plain_letter(char)
        if all(unicodedata.category(c)[0] in "LNM" or c == "_" for c in char):
            letters.append(char.lower())
        elif char.isspace() or char in "./" or unicodedata.category(char) == "Pd":
            letters.append("-")
        # Other punctuation and symbols ("don't", "&", "!") are dropped, as WordPress drops them.
    slug = re.sub(r"-{2,}", "-", "".join(letters)).strip("-_")
    slug = slug[:SLUG_MAX_CHARS]
    while len(quote(slug, safe="-_")) > SLUG_MAX_ENCODED - 9:
        slug = slug[:-1]
    return slug.strip("-")


def wordpress_parts(publication: Publication) -> tuple[str, str, str]:
    """(title, content HTML, slug) of a publication."""
    text = publication.text or ""
    title = (publication.title or "").strip()
    match = _TITLE.match(text)
    if match:
        if not title:
            title = match.group("title").strip()
        text = text[match.end() :]
    html = markdown.markdown(
        text.strip(), extensions=[*MARKDOWN_EXTENSIONS, _HashtagsStayText()], output_format="html"
    )
    key = re.sub(r"[^a-z0-9]", "", publication.idempotency_key.lower())[:8]
    base = wordpress_slug(title) or "post"
    return title, html, f"{base}-{key}" if key else base


@dataclass(frozen=True, kw_only=True)
class WordPressOptions:
    """How a post goes out. `category` is an id or the name of an existing category."""

    status: str = "publish"
    category: int | str | None = None
    tags: tuple[str, ...] = ()
    hashtags_as_tags: bool = False

    @classmethod
    def of(cls, *sources: Mapping[str, Any] | None) -> "WordPressOptions":
        """The options of the given mappings (connection extra, then the job's options), later
        ones winning key by key. Values are trusted: the services validated them on the way in."""
        merged: dict[str, Any] = {}
        for source in sources:
            if isinstance(source, Mapping):
                merged.update({k: source[k] for k in OPTION_KEYS if k in source})
        return cls(
            status=str(merged.get("status") or "publish"),
            category=merged.get("category") if merged.get("category") not in ("", None) else None,
            tags=tuple(str(tag) for tag in merged.get("tags") or ()),
            hashtags_as_tags=bool(merged.get("hashtags_as_tags", False)),
        )


OPTION_KEYS = ("status", "category", "tags", "hashtags_as_tags")


def wordpress_option_errors(options: Mapping[str, Any]) -> dict[str, str]:
    """{key: message} for the publishing options in `options` that are not usable (empty: all
    good). Keys that are not publishing options are ignored (the connection's extra holds others)."""
    errors: dict[str, str] = {}
    status = options.get("status")
    if status is not None and status not in POST_STATUSES:
        errors["status"] = f"status must be one of {', '.join(POST_STATUSES)}."
    category = options.get("category")
    if category is not None and not (
        (isinstance(category, int) and not isinstance(category, bool) and category > 0)
        or (isinstance(category, str) and 0 < len(category.strip()) <= MAX_TERM_CHARS)
    ):
        errors["category"] = (
            "category is a category id (a positive integer) or its name "
            f"(at most {MAX_TERM_CHARS} characters)."
        )
    tags = options.get("tags")
    if tags is not None and not (
        isinstance(tags, list)
        and len(tags) <= MAX_TAGS
        and all(isinstance(tag, str) and 0 < len(tag.strip()) <= MAX_TERM_CHARS for tag in tags)
    ):
        errors["tags"] = (
            f"tags is a list of at most {MAX_TAGS} tag names (text, 1 to {MAX_TERM_CHARS} characters each)."
        )
    flag = options.get("hashtags_as_tags")
    if flag is not None and not isinstance(flag, bool):
        errors["hashtags_as_tags"] = "hashtags_as_tags is true or false."
    return errors


class WordPressPublisher(HttpPublisher):
    platform_type = "wordpress"

    def __init__(
        self,
        *,
        site_url: str,
        username: str,
        application_password: str,
        options: Mapping[str, Any] | None = None,
        **kwargs,
    ):
        super().__init__(base_url=site_url, auth=(username or "", application_password), **kwargs)
        self.options = dict(options or {})

    @classmethod
    def from_connection(cls, connection, *, timeout: float | None = None, **kwargs) -> "WordPressPublisher":
        return cls(
            site_url=connection.instance_url,
            username=connection.username or "",
            application_password=connection.access_token,
            options=connection.extra if isinstance(connection.extra, dict) else None,
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

    def options_of(self, publication: Publication) -> WordPressOptions:
        return WordPressOptions.of(self.options, publication.options)

    def _post_once(self, publication: Publication) -> Published:
        title, html, slug = wordpress_parts(publication)
        options = self.options_of(publication)
        payload: dict[str, Any] = {"title": title, "content": html, "status": options.status, "slug": slug}
        # Terms are resolved on every attempt: looking up is cheap, and a tag created by an
        # attempt whose post failed is simply found the next time.
        if options.category is not None:
            payload["categories"] = [self._category_id(options.category)]
        names = list(options.tags)
        if options.hashtags_as_tags:
            names += hashtags_of(publication.text)
        # "#kaffee" given as a tag means the tag "kaffee".
        names = _unique(n for n in (name.strip().lstrip("#").strip() for name in names) if n)[:MAX_TAGS]
        if names:
            payload["tags"] = [self._tag_id(name) for name in names]
        response = self._send("POST", f"{self.api}/posts", what="the new post", json=payload)
        post = self._json(response, what="the new post", ambiguous=True)
        if not isinstance(post, dict) or post.get("id") in (None, ""):
            raise self._malformed("the new post", "does not describe a post", ambiguous=True)
        return self._published(post, http_status=response.status_code)

    # Terms ------------------------------------------------------------------------------------

    def _find_term(self, taxonomy: str, name: str, *, what: str) -> int | None:
        """The id of the term named `name` (case-insensitively), None when there is none.
        WordPress's `search` matches parts of names and slugs, so the exact name is picked out."""
        terms = self._json(
            self._send(
                "GET",
                f"{self.api}/{taxonomy}",
                what=what,
                params={"search": name, "per_page": 100, "hide_empty": "false"},
            ),
            what=what,
        )
        if not isinstance(terms, list):
            raise self._malformed(what, "is not a list")
        wanted = name.strip().casefold()
        for term in terms:
            # WordPress stores names HTML-escaped ("Kaffee &amp; Tee").
            if isinstance(term, dict) and unescape(str(term.get("name") or "")).strip().casefold() == wanted:
                term_id = term.get("id")
                if isinstance(term_id, int) and not isinstance(term_id, bool):
                    return term_id
        return None

    def _category_id(self, category: int | str) -> int:
        if isinstance(category, int):
            # WordPress silently drops an id that is no category, so it is checked first.
            try:
                self._send("GET", f"{self.api}/categories/{category}", what=f"category {category}")
            except PlatformAuthError as exc:
                if exc.status != 404:
                    raise
                raise platform_error(
                    PlatformAuthError,
                    f"{self.host} has no category with id {category}: give the id (or name) of an "
                    "existing category.",
                    status=404,
                    reason="no_category",
                    retryable=False,
                ) from None
            return category
        found = self._find_term("categories", category, what=f"the category “{category}”")
        if found is None:
            # Not created: a misspelt category would otherwise become a new one on the blog.
            raise platform_error(
                PlatformAuthError,
                f"{self.host} has no category named “{category}”: create it in WordPress or give "
                "the name (or id) of an existing one.",
                reason="no_category",
                retryable=False,
            )
        return found

    def _tag_id(self, name: str) -> int:
        what = f"the tag “{name}”"
        found = self._find_term("tags", name, what=what)
        if found is not None:
            return found
        try:
            response = self._send("POST", f"{self.api}/tags", what=f"the new {what[4:]}", json={"name": name})
        except PlatformAuthError as exc:
            # Created meanwhile (or the search missed it): WordPress names the existing term.
            term_id = getattr(exc, "term_id", None)
            if term_id is not None:
                return term_id
            raise
        tag = self._json(response, what=f"the new tag “{name}”")
        if not isinstance(tag, dict) or not isinstance(tag.get("id"), int):
            raise self._malformed(f"the new tag “{name}”", "does not describe a tag")
        return tag["id"]

    def _status_error(self, response, *, what: str):
        error = super()._status_error(response, what=what)
        body = _json_body(response)
        # 400 {"code": "term_exists", "data": {"status": 400, "term_id": 42}}
        if response.status_code == 400 and body.get("code") == "term_exists":
            data = body.get("data") if isinstance(body.get("data"), dict) else {}
            term_id = data.get("term_id")
            if isinstance(term_id, int) and not isinstance(term_id, bool):
                error.term_id = term_id
        return error

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
        body = _json_body(response)
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


def _json_body(response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
