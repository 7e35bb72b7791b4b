"""What the AI sees (core.ai.disclosure): the backend that runs for a person's work, the host that
receives their images and text, and whether that host is another machine."""

import pytest

from core.ai import ai_disclosure
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db


def test_the_builtin_backend_sends_nothing_anywhere(settings):
    settings.AI_BACKEND = "builtin"
    settings.AI_BASE_URL = "https://api.example.test/v1"
    shown = ai_disclosure(user=UserFactory())
    assert shown.as_dict() == {
        "backend": "builtin",
        "host": None,
        "leaves_machine": False,
        "builtin_only": False,
        "site_backend": "builtin",
    }
    assert "do not leave the machine" in shown.summary


@pytest.mark.parametrize(
    ("base_url", "host", "leaves"),
    [
        ("https://api.example.test/v1", "api.example.test", True),
        ("http://10.1.2.3:11434/v1", "10.1.2.3:11434", True),
        ("http://127.0.0.1:11434/v1", "127.0.0.1:11434", False),
        ("http://localhost:8080/v1", "localhost:8080", False),
        ("http://[::1]:8080/v1", "[::1]:8080", False),
        ("http://[2001:db8::7]/v1", "[2001:db8::7]", True),
    ],
)
def test_the_openai_backend_names_the_host_of_ai_base_url(settings, base_url, host, leaves):
    settings.AI_BACKEND = " OpenAI "
    settings.AI_BASE_URL = base_url
    shown = ai_disclosure(user=UserFactory())
    assert (shown.backend, shown.host, shown.leaves_machine) == ("openai", host, leaves)
    assert host in shown.summary
    assert ("another machine" in shown.summary) is leaves


def test_a_builtin_only_person_is_told_nothing_leaves(settings):
    settings.AI_BACKEND = "openai"
    settings.AI_BASE_URL = "https://api.example.test/v1"
    shown = ai_disclosure(user=UserFactory(ai_builtin_only=True))
    assert (shown.backend, shown.host, shown.leaves_machine) == ("builtin", None, False)
    assert (shown.builtin_only, shown.site_backend) == (True, "openai")
    assert "you chose builtin AI only" in shown.summary
    assert "api.example.test" not in shown.summary


def test_no_person_means_the_sites_backend(settings):
    settings.AI_BACKEND = "openai"
    settings.AI_BASE_URL = "https://api.example.test/v1"
    assert ai_disclosure(user=None).host == "api.example.test"


def test_a_base_url_without_a_host_says_nothing_is_sent(settings):
    settings.AI_BACKEND = "openai"
    settings.AI_BASE_URL = "not a url"
    shown = ai_disclosure(user=None)
    assert shown.host is None and not shown.leaves_machine
    assert "names no host" in shown.summary
