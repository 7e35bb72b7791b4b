"""The demo website the demo instance serves under `/site/`, for scraping jobs that run offline.

- `/robots.txt`: disallows `/site/private/` for every agent and names the sitemap;
- `/site/` (`/site/index.html`): links to every article and to the private page;
- `/site/articles/<slug>.html`: articles about social media accessibility and alt text, each with
  a <title>, an <article>, `author` and `date` meta tags, `lang="en"` and a canonical link;
- `/site/reposts/alt-text-on-mastodon.html`: the same bytes as the Mastodon article (a duplicate,
  for the scraper's content-hash deduplication);
- `/site/private/secret.html`: a page robots.txt disallows;
- `/site/sitemap.xml`: every article URL (the duplicate included) with its `<lastmod>`.

Every page is the same bytes on every run; only absolute URLs (sitemap, robots.txt, canonical
links) depend on the base URL the instance is reached at.
"""

import html
from dataclasses import dataclass
from xml.sax.saxutils import escape as xml_escape

SITE_PREFIX = "/site"
PRIVATE_PATH = "/site/private/secret.html"
SITEMAP_PATH = "/site/sitemap.xml"
DUPLICATE_PATH = "/site/reposts/alt-text-on-mastodon.html"


@dataclass(frozen=True)
class Article:
    slug: str
    title: str
    author: str
    date: str  # YYYY-MM-DD
    paragraphs: tuple[str, ...]

    @property
    def path(self) -> str:
        return f"{SITE_PREFIX}/articles/{self.slug}.html"


ARTICLES: tuple[Article, ...] = (
    Article(
        slug="why-alt-text-matters",
        title="Why alt text matters on social media",
        author="Maya Lindqvist",
        date="2025-09-02",
        paragraphs=(
            "Alt text is the short description attached to an image. Screen readers read it aloud, so "
            "people who are blind or have low vision learn what the picture shows.",
            "On social media most images arrive without any description. A post that relies on a "
            "photo, a chart or a screenshot is simply missing for everyone who cannot see it.",
            "Accessibility is not only for blind readers: alt text also helps people on slow "
            "connections, where images do not load, and it makes posts easier to search.",
        ),
    ),
    Article(
        slug="writing-good-alt-text",
        title="Writing good alt text: a short guide",
        author="Jonas Weber",
        date="2025-09-16",
        paragraphs=(
            "Good alt text says what matters in the image for the post it belongs to. Start with the "
            "subject, then add the detail the reader needs; skip phrases like 'image of'.",
            "Keep it short. One or two sentences are usually enough; a long description belongs in "
            "the post itself, where everyone can read it.",
            "Transcribe text that appears in the image, such as a sign or a screenshot, because a "
            "screen reader cannot read pixels. Accessibility starts with the words you choose.",
        ),
    ),
    Article(
        slug="alt-text-on-mastodon",
        title="Alt text on Mastodon and the fediverse",
        author="Maya Lindqvist",
        date="2025-10-01",
        paragraphs=(
            "Mastodon lets you add a description to every image before you post, and many servers "
            "remind you when one is missing. The fediverse has a strong culture of alt text.",
            "You can still add alt text after posting: editing a post keeps its replies and boosts, "
            "and the new description reaches the servers that already have a copy.",
            "The limit is generous: 1,500 characters per image on Mastodon. Accessibility tools can "
            "suggest a description for you to review before it is published.",
        ),
    ),
    Article(
        slug="screen-readers-and-social-media",
        title="How screen readers read a social media timeline",
        author="Priya Natarajan",
        date="2025-10-20",
        paragraphs=(
            "A screen reader turns the page into speech or braille. In a timeline it reads the author, "
            "the post text, and then each image's alt text in order.",
            "An image without alt text is announced as 'image' or by its file name, which tells the "
            "listener nothing. Emoji and hashtags are read out too, one by one.",
            "Writing hashtags in camel case and adding alt text are the two simplest accessibility "
            "habits for anyone who posts on social media.",
        ),
    ),
    Article(
        slug="describing-charts",
        title="Describing charts and graphs in alt text",
        author="Jonas Weber",
        date="2025-11-05",
        paragraphs=(
            "A chart in a post usually carries one message. Put that message in the alt text: what is "
            "compared, and what the trend is.",
            "For a bar chart, name the largest and smallest bars and the overall direction. If readers "
            "need the exact numbers, link a table or put them in the post.",
            "Accessibility reviewers often find charts posted with no alt text at all; a single sentence "
            "already makes them usable.",
        ),
    ),
    Article(
        slug="captions-for-video",
        title="Captions for video posts",
        author="Priya Natarajan",
        date="2025-11-19",
        paragraphs=(
            "Video needs captions for people who are deaf or hard of hearing, and for everyone who "
            "watches with the sound off.",
            "A description of the video belongs in its alt text as well, so a screen reader can say "
            "what the clip shows before it plays.",
            "Automatic captions are a starting point; a person should always review them before they "
            "are published, as with any generated alt text.",
        ),
    ),
    Article(
        slug="accessibility-checklist",
        title="A social media accessibility checklist",
        author="Maya Lindqvist",
        date="2025-12-03",
        paragraphs=(
            "Before you post: add alt text to every image, caption every video, and avoid putting "
            "important information only in a picture.",
            "Use plain language, put hashtags at the end in camel case, and keep emoji to a few. "
            "Check the contrast of any text you place over an image.",
            "After you post: look for images that went out without a description and add alt text by "
            "editing the post. Accessibility is a habit, not a one-off task.",
        ),
    ),
)

_INDEX_TITLE = "Accessible Posts: notes on alt text and social media"


def _page(*, title: str, body: str, canonical: str, meta: dict[str, str] | None = None) -> str:
    metas = "".join(
        f'    <meta name="{html.escape(name)}" content="{html.escape(value)}">\n'
        for name, value in (meta or {}).items()
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n'
        "<head>\n"
        '    <meta charset="utf-8">\n'
        f"    <title>{html.escape(title)}</title>\n"
        f"{metas}"
        f'    <link rel="canonical" href="{html.escape(canonical)}">\n'
        "</head>\n"
        "<body>\n"
        f'<header><a href="{SITE_PREFIX}/">Accessible Posts</a></header>\n'
        f"{body}"
        "<footer><p>A demo site served by the socialdesk demo instance.</p></footer>\n"
        "</body>\n"
        "</html>\n"
    )


def article_html(article: Article, *, base_url: str) -> str:
    paragraphs = "".join(f"<p>{html.escape(text)}</p>\n" for text in article.paragraphs)
    body = (
        "<main>\n<article>\n"
        f"<h1>{html.escape(article.title)}</h1>\n"
        f'<p class="byline">By {html.escape(article.author)}, <time datetime="{article.date}">'
        f"{article.date}</time></p>\n"
        f"{paragraphs}"
        "</article>\n"
        f'<nav><a href="{SITE_PREFIX}/">All articles</a></nav>\n'
        "</main>\n"
    )
    return _page(
        title=article.title,
        body=body,
        canonical=base_url + article.path,
        meta={"author": article.author, "date": article.date, "description": article.paragraphs[0]},
    )


def index_html(*, base_url: str) -> str:
    items = "".join(
        f'<li><a href="{article.path}">{html.escape(article.title)}</a> ({article.date})</li>\n'
        for article in ARTICLES
    )
    body = (
        "<main>\n"
        f"<h1>{html.escape(_INDEX_TITLE)}</h1>\n"
        "<p>Short articles about alt text, captions and accessible social media posts.</p>\n"
        f"<ul>\n{items}</ul>\n"
        f'<p>Reposted: <a href="{DUPLICATE_PATH}">Alt text on Mastodon (repost)</a></p>\n'
        f'<p>Staff only: <a href="{PRIVATE_PATH}">internal notes</a></p>\n'
        "</main>\n"
    )
    return _page(title=_INDEX_TITLE, body=body, canonical=f"{base_url}{SITE_PREFIX}/")


def private_html(*, base_url: str) -> str:
    body = (
        "<main>\n<article>\n<h1>Internal notes</h1>\n"
        "<p>This page is disallowed by robots.txt: a polite scraper never fetches it.</p>\n"
        "</article>\n</main>\n"
    )
    return _page(title="Internal notes", body=body, canonical=base_url + PRIVATE_PATH)


def robots_txt(*, base_url: str) -> str:
    return f"User-agent: *\nDisallow: {SITE_PREFIX}/private/\n\nSitemap: {base_url}{SITEMAP_PATH}\n"


def sitemap_paths() -> list[tuple[str, str]]:
    """(path, lastmod) of every page the sitemap lists, in order."""
    duplicate_of = next(article for article in ARTICLES if article.slug == "alt-text-on-mastodon")
    return [(article.path, article.date) for article in ARTICLES] + [(DUPLICATE_PATH, duplicate_of.date)]


def sitemap_xml(*, base_url: str) -> str:
    entries = "".join(
        f"  <url>\n    <loc>{xml_escape(base_url + path)}</loc>\n    <lastmod>{lastmod}</lastmod>\n  </url>\n"
        for path, lastmod in sitemap_paths()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        f"{entries}"
        "</urlset>\n"
    )


def site_page(path: str, *, base_url: str) -> tuple[str, str] | None:
    """(body, content type) of a site path, or None when there is no such page."""
    if path == "/robots.txt":
        return robots_txt(base_url=base_url), "text/plain; charset=utf-8"
    if path in (f"{SITE_PREFIX}/", f"{SITE_PREFIX}/index.html", SITE_PREFIX):
        return index_html(base_url=base_url), "text/html; charset=utf-8"
    if path == SITEMAP_PATH:
        return sitemap_xml(base_url=base_url), "application/xml; charset=utf-8"
    if path == PRIVATE_PATH:
        return private_html(base_url=base_url), "text/html; charset=utf-8"
    if path == DUPLICATE_PATH:
        path = next(article.path for article in ARTICLES if article.slug == "alt-text-on-mastodon")
    for article in ARTICLES:
        if article.path == path:
            return article_html(article, base_url=base_url), "text/html; charset=utf-8"
    return None
