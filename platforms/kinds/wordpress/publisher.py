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

Media (`Publication.media`, rules in the kind): each item is uploaded in order with
`POST /wp-json/wp/v2/media`, the raw bytes as the body, its MIME type as Content-Type and
`Content-Disposition: attachment; filename="..."` (an ASCII name with the extension of the type:
WordPress's parser of that header is naive, and it checks the extension against the content);
then its alt text is set with `POST /wp-json/wp/v2/media/<id>` {"alt_text": ...}, exactly as a
person approved it (WordPress itself stores it through sanitize_text_field, which turns line
breaks into spaces and drops tags). Two requests, not the alt text in the upload's query string:
a long alt text in a URL can pass a web server's request-line limit.

Uploads are remembered per publication (its idempotency key and `MediaItem.key`) for the life of
the publisher, with whether the alt text was set: a retried attempt uploads only what is missing.
An upload that failed, or whose answer was lost, is not the post: it leaves at most an unattached
file in the media library, so its failure never makes the post "may exist" (ambiguous).

The post's content is the rendered markdown with each item, in order, as a `<figure>` placed
before the article's first heading (after its introduction; at the end when it has no heading):
`<figure class="wp-block-image size-full"><img src alt class="wp-image-<id>" width height /></figure>`
(the `wp-image-<id>` class is what makes WordPress add srcset, sizes and lazy loading), videos as
`<figure class="wp-block-video"><video controls preload="metadata" src aria-label>`. No block
comments (`<!-- wp:image -->`): the editor validates a block's HTML against its own markup of the
running version and marks any other as invalid; plain HTML opens as a classic block and shows the
same. The alt attribute keeps the alt text's meaning: quotes, `<`, `>` and `&` escaped, and each
run of line breaks (an attribute cannot show one) a single space. No featured image is set: most
themes show it above the content, where the first picture would then appear twice.

Media errors end the attempt clearly: a refused upload (`rest_upload_*`, including WordPress's
500 `rest_upload_sideload_error` for a type it does not take, or 413 from the web server) is a
rejection, not retried; 401/403 (`rest_cannot_create`: the user may not upload files) too; 429
waits for Retry-After (or RateLimit-Reset); other 5xx are retried.

Sites without pretty permalinks serve the API only under `?rest_route=`; they are not supported.
"""

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from html import escape, unescape
from typing import Any
from urllib.parse import quote

import markdown
from markdown.blockprocessors import HashHeaderProcessor
from markdown.extensions import Extension

from core.retry import parse_retry_after
from platforms.kinds.common import (
    PlatformAccount,
    PlatformAuthError,
    PlatformError,
    PlatformUnavailableError,
    platform_error,
)
from platforms.kinds.media import MediaItem
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
# The extension WordPress expects for each type it takes (wp_get_mime_types).
UPLOAD_EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
}
UPLOAD_NAME_MAX_CHARS = 80
UPLOAD_WHAT = "the upload of"  # how an upload's errors name it (a 413 there gets its own words)
_UNSAFE_FILENAME_CHARS = re.compile(r"[^A-Za-z0-9_-]+")
# A run of line breaks, with the spaces around them.
_LINE_BREAKS = re.compile(r"(?:[ \t]*(?:\r\n|[\r\n\v\f\x85\u2028\u2029])[ \t]*)+")
_FIRST_HEADING = re.compile(r"<h[1-6][\s>]")
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


# Media ------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class WordPressUpload:
    """One item in the site's media library, as its upload answered."""

    media_id: int
    source_url: str
    width: int | None = None
    height: int | None = None
    alt_text_set: bool = False


def alt_attribute(alt_text: str) -> str:
    """The alt text as the value of an HTML attribute: quotes, `<`, `>` and `&` escaped, and each
    run of line breaks one space (an attribute cannot show a line break; the words stay apart)."""
    return escape(_LINE_BREAKS.sub(" ", alt_text or "").strip(), quote=True)


def upload_filename(item: MediaItem, *, position: int) -> str:
    """A name WordPress takes in Content-Disposition: ASCII letters, digits, "-" and "_" (its
    header parser splits on ";" and "=" and does not decode RFC 6266's filename*), with the
    extension of the item's type (WordPress checks the extension against the content)."""
    stem = item.filename.rsplit(".", 1)[0] if "." in item.filename else item.filename
    stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    stem = _UNSAFE_FILENAME_CHARS.sub("-", stem).strip("-_")[:UPLOAD_NAME_MAX_CHARS].strip("-_")
    extension = UPLOAD_EXTENSIONS.get(item.media_type)
    if extension is None:
        original = item.filename.rsplit(".", 1)[-1] if "." in item.filename else ""
        extension = "." + _UNSAFE_FILENAME_CHARS.sub("", original)[:10] if original else ""
    return f"{stem or f'media-{position}'}{extension}"


def media_figure(item: MediaItem, upload: WordPressUpload) -> str:
    """The HTML of one uploaded item in the post's content."""
    src = escape(upload.source_url, quote=True)
    alt = alt_attribute(item.alt_text)
    if item.is_video:
        return (
            f'<figure class="wp-block-video"><video controls preload="metadata" src="{src}" '
            f'aria-label="{alt}"></video></figure>'
        )
    size = f' width="{upload.width}" height="{upload.height}"' if upload.width and upload.height else ""
    return (
        f'<figure class="wp-block-image size-full"><img src="{src}" alt="{alt}" '
        f'class="wp-image-{upload.media_id}"{size} /></figure>'
    )


def content_with_media(html: str, figures: list[str]) -> str:
    """The figures, in order, before the content's first heading (after the introduction), or
    after everything when there is no heading."""
    if not figures:
        return html
    block = "\n".join(figures)
    heading = _FIRST_HEADING.search(html)
    if heading is None:
        return f"{html}\n{block}" if html else block
    return f"{html[: heading.start()]}{block}\n{html[heading.start() :]}"


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


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
        # (publication idempotency key, MediaItem.key) -> what the site holds for it.
        self._uploads: dict[tuple[str, str], WordPressUpload] = {}

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
        uploads = self._upload_media(publication)
        title, html, slug = wordpress_parts(publication)
        pairs = zip(publication.media, uploads, strict=True)
        html = content_with_media(html, [media_figure(item, upload) for item, upload in pairs])
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
        published = self._published(post, http_status=response.status_code)
        if uploads:
            published.details["media_ids"] = [upload.media_id for upload in uploads]
        return published

    # Media ------------------------------------------------------------------------------------

    def _upload_media(self, publication: Publication) -> list[WordPressUpload]:
        """Every item of the publication in the media library with its alt text, in order;
        what an earlier attempt already did is reused."""
        uploads: list[WordPressUpload] = []
        for position, item in enumerate(publication.media, start=1):
            key = (publication.idempotency_key, item.key)
            try:
                upload = self._uploads.get(key)
                if upload is None:
                    upload = self._uploads[key] = self._upload(item, position=position)
                if not upload.alt_text_set:
                    self._set_alt_text(item, upload, position=position)
                    upload = self._uploads[key] = replace(upload, alt_text_set=True)
            except PlatformError as exc:
                # The post itself was not sent: a failed upload is never "the post may exist".
                exc.ambiguous = False
                raise
            uploads.append(upload)
        return uploads

    def _upload(self, item: MediaItem, *, position: int) -> WordPressUpload:
        filename = upload_filename(item, position=position)
        what = f"{UPLOAD_WHAT} media item {position} ({filename})"
        try:
            data = item.read()
        except OSError:
            raise platform_error(
                PlatformUnavailableError,
                f"Media item {position} ({item.filename}) could not be read from storage; nothing "
                f"was sent to {self.host}.",
                reason="storage",
            ) from None
        response = self._send(
            "POST",
            f"{self.api}/media",
            what=what,
            content=data,
            headers={
                "Content-Type": item.media_type,
                "Content-Disposition": f'attachment; filename="{filename}"',
            },
        )
        media = self._json(response, what=what)
        if (
            not isinstance(media, dict)
            or _positive_int(media.get("id")) is None
            or not isinstance(media.get("source_url"), str)
            or not media["source_url"]
        ):
            raise self._malformed(what, "does not describe an upload", status=response.status_code)
        details = media.get("media_details") if isinstance(media.get("media_details"), dict) else {}
        width, height = _positive_int(details.get("width")), _positive_int(details.get("height"))
        if width is None or height is None:
            width, height = item.width, item.height
        return WordPressUpload(
            media_id=media["id"], source_url=media["source_url"], width=width, height=height
        )

    def _set_alt_text(self, item: MediaItem, upload: WordPressUpload, *, position: int) -> None:
        self._send(
            "POST",
            f"{self.api}/media/{upload.media_id}",
            what=f"the alt text of media item {position}",
            json={"alt_text": item.alt_text},
        )

    def _rate_limit_wait(self, headers: Mapping[str, str]) -> float | None:
        # WordPress has no rate limit of its own; hosts, proxies and security plugins that send a
        # 429 say when with Retry-After, some with the IETF RateLimit-Reset (seconds) instead.
        wait = parse_retry_after(headers.get("Retry-After"))
        if wait is not None:
            return wait
        try:
            reset = float(headers.get("RateLimit-Reset") or "")
        except ValueError:
            return None
        return reset if 0 <= reset < 86_400 else None

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
        body = _json_body(response)
        code = body.get("code")
        if isinstance(code, str) and code.startswith("rest_upload_"):
            # WordPress refused the file: any status, 500 included (a type it does not take is
            # a 500 rest_upload_sideload_error). Sending it again would be refused again.
            detail = (self._detail(response) or code).rstrip(".")
            message = f"{self.host} refused {what} (HTTP {response.status_code}): {detail}"
            if code == "rest_upload_no_data":
                message += (
                    " (PHP drops a request body larger than its post_max_size, and WordPress then "
                    "sees no file: attach a smaller file or raise the site's limit)"
                )
            return platform_error(
                PlatformAuthError, message + ".", status=response.status_code, reason="media_rejected"
            )
        if response.status_code == 413 and what.startswith(UPLOAD_WHAT):
            return platform_error(
                PlatformAuthError,
                f"{self.host} refused {what} as too large (HTTP 413): the web server in front of "
                "WordPress takes less (nginx client_max_body_size, Apache LimitRequestBody); raise "
                "its limit or attach a smaller file.",
                status=413,
                reason="media_rejected",
            )
        error = super()._status_error(response, what=what)
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
