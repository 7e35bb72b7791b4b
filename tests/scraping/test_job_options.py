from datetime import date

import pytest
from django.core.exceptions import ValidationError

from core.models import ConfigType
from core.services import config_set
from scraping.job_options import JobSettings, job_settings_parse, job_settings_serialise

URL = "https://example.org/a"


def errors_of(job_type: str, values) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        job_settings_parse(job_type=job_type, values=values)
    return caught.value.message_dict


def test_defaults_for_a_web_page_job():
    assert job_settings_parse(job_type="web_page", values={}) == JobSettings()
    assert job_settings_parse(job_type="web_page", values=None) == JobSettings()


def test_api_json_types_and_stored_json_text_parse_alike():
    api = {
        "max_items": 50,
        "crawl_depth": 2,
        "follow_robots": False,
        "date_from": "2024-01-01",
        "date_to": "2024-06-30",
        "languages": ["en", "pt_BR"],
        "allowed_domains": ["Example.org", "https://news.example.com/path"],
        "urls": [URL, URL, "http://example.org/b"],
    }
    stored = {
        "max_items": "50",
        "crawl_depth": "2",
        "follow_robots": "false",
        "date_from": '"2024-01-01"',
        "date_to": "2024-06-30",
        "languages": '["en", "pt-br"]',
        "allowed_domains": "example.org, news.example.com",
        "urls": f'["{URL}", "http://example.org/b"]',
    }
    parsed = job_settings_parse(job_type="url_list", values=api)
    assert parsed == job_settings_parse(job_type="url_list", values=stored)
    assert parsed.max_items == 50 and parsed.crawl_depth == 2 and parsed.follow_robots is False
    assert (parsed.date_from, parsed.date_to) == (date(2024, 1, 1), date(2024, 6, 30))
    assert parsed.languages == ("en", "pt-br")
    assert parsed.allowed_domains == ("example.org", "news.example.com")
    assert parsed.urls == (URL, "http://example.org/b")  # deduplicated, order kept


def test_null_and_empty_values_mean_the_default():
    parsed = job_settings_parse(
        job_type="web_page", values={"max_items": None, "crawl_depth": "null", "languages": ""}
    )
    assert parsed == JobSettings()


def test_serialise_round_trips_for_every_job_type(db):
    config_set(key="scraping_government_domains", value=["gov.example"], value_type=ConfigType.JSON)
    cases = {
        "web_page": {"max_items": 10, "languages": ["de"], "date_from": "2024-01-01"},
        "url_list": {"urls": [URL], "crawl_depth": 0},
        "sitemap": {"sitemap_urls": ["https://example.org/sitemap.xml"]},
        "feed": {"feed_urls": ["https://example.org/feed"], "date_to": "2024-12-31"},
        "paper": {"paper_sources": ["crossref"]},
        "government_doc": {},
    }
    for job_type, values in cases.items():
        parsed = job_settings_parse(job_type=job_type, values=values)
        stored = job_settings_serialise(parsed)
        assert all(isinstance(value, str) for value in stored.values())
        assert job_settings_parse(job_type=job_type, values=stored) == parsed, job_type
    assert job_settings_serialise(job_settings_parse(job_type="government_doc", values={}))["domains"] == (
        '["gov.example"]'
    )
    assert "paper_sources" not in job_settings_serialise(job_settings_parse(job_type="paper", values={}))


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("max_items", 0, "from 1 to 10000"),
        ("max_items", 10_001, "from 1 to 10000"),
        ("max_items", "many", "whole number"),
        ("max_items", 2.5, "whole number"),
        ("max_items", True, "whole number"),
        ("crawl_depth", -1, "from 0 to 3"),
        ("crawl_depth", 4, "from 0 to 3"),
        ("crawl_depth", [1], "whole number"),
        ("follow_robots", "maybe", "true or false"),
        ("follow_robots", 1, "true or false"),
        ("date_from", "2024-13-01", "YYYY-MM-DD"),
        ("date_to", 20240101, "YYYY-MM-DD"),
        ("languages", ["english!"], "language code"),
        ("languages", [1], "list of strings"),
        ("languages", ["en"] * 2 + [f"x{c}" for c in "abcdefghijklmnopqrstu"], "At most 20"),
        ("allowed_domains", ["not a host"], "host name"),
        ("allowed_domains", {"a": 1}, "list of strings"),
    ],
)
def test_each_common_rule(key, value, message):
    errors = errors_of("web_page", {key: value})
    assert list(errors) == [f"configuration.{key}"]
    assert message in errors[f"configuration.{key}"][0]


def test_max_items_bounds_are_inclusive():
    assert job_settings_parse(job_type="web_page", values={"max_items": 1}).max_items == 1
    assert job_settings_parse(job_type="web_page", values={"max_items": 10_000}).max_items == 10_000
    assert job_settings_parse(job_type="web_page", values={"crawl_depth": 0}).crawl_depth == 0
    assert job_settings_parse(job_type="web_page", values={"crawl_depth": 3}).crawl_depth == 3


def test_date_from_after_date_to():
    errors = errors_of("web_page", {"date_from": "2024-02-01", "date_to": "2024-01-31"})
    assert errors == {"configuration.date_from": ["date_from must not be after date_to."]}
    same_day = job_settings_parse(
        job_type="web_page", values={"date_from": "2024-02-01", "date_to": "2024-02-01"}
    )
    assert same_day.date_from == same_day.date_to


def test_unknown_keys_and_keys_of_another_job_type():
    errors = errors_of("web_page", {"maxitems": 5, "urls": [URL]})
    assert "Unknown setting 'maxitems'" in errors["configuration.maxitems"][0]
    assert errors["configuration.urls"] == ["urls applies to url_list jobs, not to web_page jobs."]


def test_every_bad_key_is_reported_at_once():
    errors = errors_of("url_list", {"max_items": 0, "crawl_depth": 9, "bogus": 1})
    assert set(errors) == {
        "configuration.max_items",
        "configuration.crawl_depth",
        "configuration.bogus",
        "configuration.urls",
    }


def test_unknown_job_type_and_non_object_configuration():
    assert "job_type" in errors_of("podcast", {})
    assert "configuration" in errors_of("web_page", ["max_items", 5])


@pytest.mark.parametrize(
    ("job_type", "key"),
    [("url_list", "urls"), ("sitemap", "sitemap_urls"), ("feed", "feed_urls")],
)
def test_required_url_lists(job_type, key):
    assert errors_of(job_type, {}) == {f"configuration.{key}": [f"A {job_type} job needs {key}."]}
    assert "Give 1 to" in errors_of(job_type, {key: []})[f"configuration.{key}"][0]
    assert (
        "not an http(s) URL" in errors_of(job_type, {key: ["ftp://example.org/x"]})[f"configuration.{key}"][0]
    )
    assert "not an http(s) URL" in errors_of(job_type, {key: ["https://"]})[f"configuration.{key}"][0]
    assert "list of strings" in errors_of(job_type, {key: 5})[f"configuration.{key}"][0]
    parsed = job_settings_parse(job_type=job_type, values={key: "https://a.example/1\nhttps://a.example/2"})
    assert getattr(parsed, key) == ("https://a.example/1", "https://a.example/2")


def test_url_list_size_limits():
    many = [f"https://example.org/{n}" for n in range(1000)]
    assert len(job_settings_parse(job_type="url_list", values={"urls": many}).urls) == 1000
    assert (
        "At most 1000"
        in errors_of("url_list", {"urls": [*many, "https://example.org/x"]})["configuration.urls"][0]
    )
    long_url = "https://example.org/" + "a" * 2050
    assert "2048" in errors_of("url_list", {"urls": [long_url]})["configuration.urls"][0]
    feeds = [f"https://example.org/{n}.xml" for n in range(101)]
    assert "At most 100" in errors_of("feed", {"feed_urls": feeds})["configuration.feed_urls"][0]


def test_paper_sources():
    assert job_settings_parse(job_type="paper", values={}).paper_sources == ("arxiv", "crossref")
    assert job_settings_parse(job_type="paper", values={"paper_sources": ["CrossRef"]}).paper_sources == (
        "crossref",
    )
    assert (
        "Unknown paper source 'pubmed'"
        in errors_of("paper", {"paper_sources": ["pubmed"]})["configuration.paper_sources"][0]
    )
    assert "at least one" in errors_of("paper", {"paper_sources": []})["configuration.paper_sources"][0]


@pytest.mark.django_db
def test_government_domains_given_or_from_the_system_default():
    message = errors_of("government_doc", {})["configuration.domains"][0]
    assert "scraping_government_domains is not set" in message

    given = job_settings_parse(
        job_type="government_doc",
        values={
            "domains": ["GOV.example", "https://data.gov.example/x", "http://127.0.0.1:8080/", "gov.example"]
        },
    )
    assert given.domains == ("gov.example", "https://data.gov.example", "http://127.0.0.1:8080")
    assert (
        "host name" in errors_of("government_doc", {"domains": ["no_such host"]})["configuration.domains"][0]
    )
    assert "at least one" in errors_of("government_doc", {"domains": []})["configuration.domains"][0]

    config_set(key="scraping_government_domains", value=["www.gov.example"], value_type=ConfigType.JSON)
    assert job_settings_parse(job_type="government_doc", values={}).domains == ("www.gov.example",)

    config_set(key="scraping_government_domains", value={"not": "a list"}, value_type=ConfigType.JSON)
    assert "is invalid" in errors_of("government_doc", {})["configuration.domains"][0]
