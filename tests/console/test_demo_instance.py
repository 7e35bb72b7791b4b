"""The built-in demo Mastodon instance, driven by the project's own clients: MastodonApi for the
caption loop, the scraping Fetcher for its demo site, and `manage.py demo_instance` in a process."""

import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from config.envfile import main as envfile_main
from config.envfile import write_env
from config.keys import generate_key
from console.demo.instance import DEMO_ACCOUNT_USERNAME, DEMO_TOKEN, DemoInstance, is_loopback
from core.retry import RetryPolicy
from platforms.kinds.common import PlatformAuthError, PlatformError
from platforms.kinds.mastodon.client import MastodonApi
from scraping.fetching import Fetcher, FetchError, FetchPolicy

ROOT = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
NO_RETRY = RetryPolicy(attempts=1)


@pytest.fixture
def instance():
    with DemoInstance(port=0) as running:
        yield running


def api_for(instance, *, token=DEMO_TOKEN, platform_type="mastodon"):
    return MastodonApi(
        instance_url=instance.base_url,
        access_token=token,
        platform_type=platform_type,
        timeout=5,
        policy=NO_RETRY,
        sleep=lambda _seconds: None,
    )


def all_media_statuses(api, *, limit):
    statuses, max_id, pages = [], None, 0
    while True:
        page = api.own_media_statuses(max_id=max_id, limit=limit)
        statuses += page.statuses
        pages += 1
        if page.next_max_id is None:
            return statuses, pages
        max_id = page.next_max_id


def bearer(token=DEMO_TOKEN):
    return {"Authorization": f"Bearer {token}"}


# The Mastodon API through MastodonApi -----------------------------------------------------------


def test_verify_and_page_through_the_demo_accounts_media_posts(instance):
    with api_for(instance) as api:
        account = api.verify()
        statuses, pages = all_media_statuses(api, limit=4)

    assert account.username == DEMO_ACCOUNT_USERNAME
    assert account.url == f"{instance.base_url}/@{DEMO_ACCOUNT_USERNAME}"
    # 6 media posts, 4 a page: the demo links a next page after every page that is not empty (as
    # GoToSocial does), so the listing ends on the empty third page.
    assert pages == 3
    assert len(statuses) == 6
    ids = [int(status["id"]) for status in statuses]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 6
    attachments = [media for status in statuses for media in status["media_attachments"]]
    images = [media for media in attachments if media["type"] == "image"]
    videos = [media for media in attachments if media["type"] == "video"]
    assert len(images) == 10 and len(videos) == 1
    described = [media["description"] for media in images if media["description"]]
    assert sum(1 for media in images if not media["description"]) == 7
    assert len(described) == 3
    assert sum(1 for text in described if CJK.search(text)) == 1
    assert all(media["url"].startswith(f"{instance.base_url}/media/") for media in attachments)


def test_the_japanese_alt_text_is_on_a_japanese_post(instance):
    with api_for(instance) as api:
        statuses, _ = all_media_statuses(api, limit=40)
    japanese = [s for s in statuses if s["language"] == "ja"]
    assert len(japanese) == 1
    (media,) = japanese[0]["media_attachments"]
    assert CJK.search(media["description"]) and "星" in media["description"]


def test_statuses_without_media_are_left_out_only_when_asked(instance):
    every = httpx.get(
        f"{instance.base_url}/api/v1/accounts/{instance.statuses()[0]['account']['id']}/statuses",
        params={"limit": 40},
        headers=bearer(),
    ).json()
    assert len(every) == 7
    assert sum(1 for status in every if not status["media_attachments"]) == 1


def test_the_link_header_pages_older_and_newer(instance):
    account_id = instance.statuses()[0]["account"]["id"]
    url = f"{instance.base_url}/api/v1/accounts/{account_id}/statuses"
    first = httpx.get(url, params={"limit": 3, "only_media": "true"}, headers=bearer())
    links = {rel: link for link, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', first.headers["Link"])}
    second = httpx.get(links["next"], headers=bearer())
    back = httpx.get(re.findall(r'<([^>]+)>; rel="prev"', second.headers["Link"])[0], headers=bearer()).json()

    first_ids = [s["id"] for s in first.json()]
    second_ids = [s["id"] for s in second.json()]
    assert len(first_ids) == 3 and len(second_ids) == 3
    assert min(map(int, first_ids)) > max(map(int, second_ids))
    assert "only_media=true" in links["next"] and "max_id=" + first_ids[-1] in links["next"]
    assert [s["id"] for s in back] == first_ids


def test_the_description_limit_is_1500(instance):
    with api_for(instance) as api:
        assert api.description_limit() == 1500
    document = httpx.get(f"{instance.base_url}/api/v1/instance").json()
    assert document["configuration"]["media_attachments"]["description_limit"] == 1500


def test_media_are_distinct_deterministic_pngs_of_the_advertised_size(instance):
    with api_for(instance) as api:
        statuses, _ = all_media_statuses(api, limit=40)
    images = [m for s in statuses for m in s["media_attachments"] if m["type"] == "image"]
    entities = {m["id"]: m for s in instance.statuses() for m in s["media_attachments"]}
    originals = {}
    for media in images:
        original = httpx.get(media["url"])
        small = httpx.get(media["preview_url"])
        assert original.status_code == 200 and original.headers["content-type"] == "image/png"
        picture = Image.open(io.BytesIO(original.content))
        assert picture.format == "PNG"
        size = entities[media["id"]]["meta"]["original"]
        assert picture.size == (size["width"], size["height"])
        assert min(picture.size) >= 400, "large enough for the captions pipeline"
        assert max(Image.open(io.BytesIO(small.content)).size) <= 320
        originals[media["id"]] = original.content
    assert len(set(originals.values())) == 10, "every image a different picture"

    with DemoInstance(port=0) as again:
        media_id = images[0]["id"]
        assert httpx.get(f"{again.base_url}/media/{media_id}/original").content == originals[media_id]
    assert httpx.get(f"{instance.base_url}/media/999/original").status_code == 404


def test_a_caption_goes_back_with_an_idempotency_key_and_reads_back(instance):
    with api_for(instance) as api:
        statuses, _ = all_media_statuses(api, limit=40)
        post = next(s for s in statuses if len(s["media_attachments"]) == 3)
        target = next(m for m in post["media_attachments"] if not m["description"])
        others = {m["id"]: m["description"] for m in post["media_attachments"] if m["id"] != target["id"]}
        text = "A bar chart with six coloured bars rising from left to right."

        result = api.set_media_description(status=post["id"], media_id=target["id"], description=text)
        again = api.set_media_description(status=post["id"], media_id=target["id"], description=text)
        read_back = api.get_status(status_id=post["id"])

    assert result.written is True and again.written is False
    described = {m["id"]: m["description"] for m in read_back["media_attachments"]}
    assert described[target["id"]] == text
    # An undescribed neighbour is sent an empty description (every server accepts one): still none.
    assert {k: v or None for k, v in described.items() if k != target["id"]} == {
        k: v or None for k, v in others.items()
    }
    assert [m["id"] for m in read_back["media_attachments"]] == [m["id"] for m in post["media_attachments"]]
    assert read_back["content"] == post["content"]
    # The instance refuses an edit without an Idempotency-Key, so the write above carried one.
    assert instance.status(post["id"])["edited_at"] is not None


def test_a_status_edit_without_an_idempotency_key_or_with_a_too_long_description_is_refused(instance):
    status = instance.statuses()[1]
    media = status["media_attachments"]
    payload = {
        "status": "x",
        "media_ids": [m["id"] for m in media],
        "media_attributes": [{"id": media[0]["id"], "description": "short"}],
    }
    url = f"{instance.base_url}/api/v1/statuses/{status['id']}"
    assert httpx.put(url, json=payload, headers=bearer()).status_code == 422
    payload["media_attributes"][0]["description"] = "x" * 1501
    too_long = httpx.put(url, json=payload, headers={**bearer(), "Idempotency-Key": "k"})
    assert too_long.status_code == 422 and "1500" in too_long.json()["error"]
    assert instance.status(status["id"]) == status

    with api_for(instance) as api, pytest.raises(PlatformError, match="422"):
        api.set_media_description(status=status["id"], media_id=media[0]["id"], description="y" * 1501)


def test_a_pixelfed_type_client_writes_through_the_media_endpoint(instance):
    with api_for(instance, platform_type="pixelfed") as api:
        statuses, _ = all_media_statuses(api, limit=40)
        post = statuses[-1]
        target = post["media_attachments"][0]
        result = api.set_media_description(status=post["id"], media_id=target["id"], description="Sunset")
    assert result.written is True
    assert instance.status(post["id"])["media_attachments"][0]["description"] == "Sunset"


def test_a_text_post_is_made_once_per_idempotency_key(instance):
    url = f"{instance.base_url}/api/v1/statuses"
    headers = {**bearer(), "Idempotency-Key": "publish-1"}
    first = httpx.post(url, json={"status": "Hello from the demo"}, headers=headers)
    second = httpx.post(url, json={"status": "Hello from the demo"}, headers=headers)
    form = httpx.post(url, data={"status": "Another one", "visibility": "unlisted"}, headers=bearer())

    assert first.status_code == 200 and first.json()["id"] == second.json()["id"]
    assert form.json()["visibility"] == "unlisted"
    assert len(instance.statuses()) == 9
    assert instance.statuses()[0]["content"] == "<p>Another one</p>"
    assert httpx.post(url, json={"status": "  "}, headers=bearer()).status_code == 422
    assert httpx.post(url, json={"status": "x" * 501}, headers=bearer()).status_code == 422


def test_the_api_needs_the_token(instance):
    url = f"{instance.base_url}/api/v1/accounts/verify_credentials"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers=bearer("wrong")).status_code == 401
    assert httpx.put(f"{instance.base_url}/api/v1/media/1", data={"description": "x"}).status_code == 401
    with api_for(instance, token="wrong-token") as api, pytest.raises(PlatformAuthError, match="401"):
        api.verify()
    assert httpx.get(url, headers=bearer()).json()["username"] == DEMO_ACCOUNT_USERNAME


def test_a_restart_starts_from_the_same_content(instance):
    status = instance.statuses()[1]
    media_id = status["media_attachments"][0]["id"]
    put = httpx.put(
        f"{instance.base_url}/api/v1/media/{media_id}", data={"description": "X"}, headers=bearer()
    )
    assert put.json()["description"] == "X"
    with DemoInstance(port=0) as fresh:
        restarted = fresh.status(status["id"])
    before = [m["description"] for m in status["media_attachments"]]
    assert [m["description"] for m in restarted["media_attachments"]] == before
    assert before[0] != "X"


def test_stop_frees_the_port():
    running = DemoInstance(port=0).start()
    port = running.port
    assert httpx.get(f"{running.base_url}/site/").status_code == 200
    running.stop()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    with pytest.raises(RuntimeError, match="not running"):
        running.base_url  # noqa: B018


def test_urls_follow_the_host_the_client_used(instance):
    via_localhost = f"http://localhost:{instance.port}"
    status = httpx.get(f"{via_localhost}/api/v1/statuses/{instance.statuses()[1]['id']}", headers=bearer())
    assert status.json()["media_attachments"][0]["url"].startswith(f"{via_localhost}/media/")


# The demo website --------------------------------------------------------------------------------


def sitemap_urls(instance) -> list[str]:
    sitemap = httpx.get(f"{instance.base_url}/site/sitemap.xml")
    assert sitemap.headers["content-type"].startswith("application/xml")
    assert '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">' in sitemap.text
    return re.findall(r"<loc>([^<]+)</loc>", sitemap.text)


def test_the_site_index_sitemap_and_robots(instance):
    robots = httpx.get(f"{instance.base_url}/robots.txt")
    index = httpx.get(f"{instance.base_url}/site/")
    urls = sitemap_urls(instance)

    assert robots.status_code == 200
    assert "Disallow: /site/private/" in robots.text
    assert f"Sitemap: {instance.base_url}/site/sitemap.xml" in robots.text
    assert index.status_code == 200 and "text/html" in index.headers["content-type"]
    assert len(urls) == 8 and len(set(urls)) == 8
    assert all(url.startswith(f"{instance.base_url}/site/") for url in urls)
    for url in urls:
        assert f'href="{url.removeprefix(instance.base_url)}"' in index.text
    assert 'href="/site/private/secret.html"' in index.text
    assert httpx.get(f"{instance.base_url}/site/nothing.html").status_code == 404


def test_articles_have_title_article_author_and_date_and_one_is_a_byte_for_byte_duplicate(instance):
    bodies = {}
    for url in sitemap_urls(instance):
        page = httpx.get(url)
        assert page.status_code == 200
        text = page.text
        assert re.search(r"<title>[^<]+</title>", text)
        assert "<article>" in text and text.count("<p>") >= 3
        assert re.search(r'<meta name="author" content="[^"]+">', text)
        assert re.search(r'<meta name="date" content="\d{4}-\d{2}-\d{2}">', text)
        assert "alt text" in text.lower()
        bodies[url] = page.content
    assert len(set(bodies.values())) == 7, "8 pages, one the duplicate of another"


def test_the_scraping_fetcher_reaches_the_demo_site_only_as_an_allowed_origin(instance, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_NETWORKS = False
    article = sitemap_urls(instance)[0]
    settings.OUTBOUND_ALLOWED_ORIGINS = []
    policy = FetchPolicy(politeness_delay=0.0, retry=NO_RETRY)
    with Fetcher(policy=policy) as fetcher, pytest.raises(FetchError) as refused:
        fetcher.fetch(article)
    assert refused.value.reason == "private_address"

    settings.OUTBOUND_ALLOWED_ORIGINS = [instance.base_url]
    with Fetcher(policy=policy) as fetcher:
        page = fetcher.fetch(article)
        private_allowed = fetcher.robots_allowed(f"{instance.base_url}/site/private/secret.html")
        with pytest.raises(FetchError) as blocked:
            fetcher.fetch(f"{instance.base_url}/site/private/secret.html")
    assert page.status == 200 and "<article>" in page.text
    assert private_allowed is False
    assert blocked.value.reason == "robots"


# manage.py demo_instance ------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "example.org", "::"])  # noqa: S104
def test_the_command_refuses_a_non_loopback_host(host):
    with pytest.raises(CommandError, match=r"not a loopback address.*--allow-remote"):
        call_command("demo_instance", host=host, port=18001)


def test_the_command_refuses_a_bad_port():
    with pytest.raises(CommandError, match="between 1 and 65535"):
        call_command("demo_instance", port=70000)


def test_loopback_hosts():
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "127.0.0.2", "[::1]"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "10.0.0.1", "example.org", ""))  # noqa: S104


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_command_serves_in_the_foreground_until_sigterm(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "demo-test-" + "x" * 40,
        "FIELD_ENCRYPTION_KEYS": generate_key(),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "VAR_DIR": str(tmp_path),
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "demo_instance", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            seen.append(line)
            if "Demo instance:" in line or (not line and process.poll() is not None):
                break
        assert f"Demo instance: http://127.0.0.1:{port}" in "".join(seen), "".join(seen)
        answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/accounts/verify_credentials", headers=bearer())
        assert answer.json()["username"] == DEMO_ACCOUNT_USERNAME
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# The .env make run writes --------------------------------------------------------------------------


def test_a_new_env_file_points_demo_instance_url_at_the_demo_port(tmp_path):
    path = tmp_path / ".env"
    assert write_env(path, demo_port=9123) is True
    content = path.read_text()
    assert "DEMO_INSTANCE_URL=http://127.0.0.1:9123\n" in content
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert write_env(path, demo_port=9999) is False
    assert path.read_text() == content

    other = tmp_path / "other.env"
    assert envfile_main(["envfile", str(other)]) == 0
    assert "DEMO_INSTANCE_URL=http://127.0.0.1:8001\n" in other.read_text()
    with pytest.raises(SystemExit) as exited:
        envfile_main(["envfile", str(tmp_path / "bad.env"), "--demo-port", "0"])
    assert exited.value.code == 2
    assert not (tmp_path / "bad.env").exists()
