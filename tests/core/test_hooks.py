"""The hooks through which the kernel calls up into apps it may not import (core.audit,
core.admin_site): registered at start-up, and what happens without a registration."""

import pytest
from django.utils import timezone

from accounts.models import AuditLog
from core import admin_site, audit


@pytest.mark.django_db
def test_the_kernels_audit_rows_go_through_the_writer_accounts_registered():
    row = audit.audit_log_write(action="maintenance.cleanup", resource_type="retention", details={"n": 1})
    assert isinstance(row, AuditLog)
    assert AuditLog.objects.get(pk=row.pk).details == {"n": 1}


def test_without_an_audit_writer_an_audited_action_fails_loudly(monkeypatch):
    monkeypatch.setattr(audit, "_writer", None)
    with pytest.raises(RuntimeError, match="No audit writer"):
        audit.audit_log_write(action="maintenance.cleanup")


def test_the_admin_index_shows_no_attention_items_without_a_provider(monkeypatch):
    monkeypatch.setattr(admin_site, "_attention_items_provider", None)
    assert admin_site.attention_items(user=None, now=timezone.now()) == []


def test_console_registers_the_dashboard_as_the_attention_items_provider():
    from console.dashboard import admin_attention_items

    assert admin_site._attention_items_provider is admin_attention_items
