import pytest

from accounts.request_meta import RequestMeta
from accounts.services.audit import audit_log_write

pytestmark = pytest.mark.django_db


def test_request_meta_fills_address_and_user_agent():
    entry = audit_log_write(action="x.y", meta=RequestMeta(ip_address="203.0.113.9", user_agent="curl/8"))
    entry.refresh_from_db()
    assert (entry.ip_address, entry.user_agent) == ("203.0.113.9", "curl/8")


def test_explicit_values_win_and_an_empty_user_agent_is_stored_as_null():
    entry = audit_log_write(
        action="x.y", ip_address="198.51.100.1", meta=RequestMeta(ip_address="203.0.113.9")
    )
    entry.refresh_from_db()
    assert (entry.ip_address, entry.user_agent) == ("198.51.100.1", None)
