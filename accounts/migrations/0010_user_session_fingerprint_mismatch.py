"""Sessions remember the other client they were last used from; live sessions' fingerprints are
recomputed in the new form (User-Agent family + network), which a session's stored user agent and
address allow, so no live session counts as moved on the first request after the upgrade."""

import hashlib
import ipaddress
import re

from django.db import migrations, models
from django.db.models.functions import Now

BATCH = 2000
_VERSION_PARTS = re.compile(r"[\d._]+")


def _fingerprint(user_agent: str | None, ip_address: str | None) -> str:
    # A frozen copy of accounts.request_meta.fingerprint_of as of this migration.
    if not user_agent and not ip_address:
        return ""
    family = " ".join(_VERSION_PARTS.sub("", user_agent or "").lower().split())
    network = ""
    if ip_address:
        try:
            address = ipaddress.ip_address(ip_address)
        except ValueError:
            address = None
        if address is not None:
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                address = address.ipv4_mapped
            prefix = 24 if address.version == 4 else 48
            network = str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
    return hashlib.sha256(f"{family}\n{network}".encode()).hexdigest()[:32]


def recompute_live_fingerprints(apps, schema_editor):
    UserSession = apps.get_model("accounts", "UserSession")
    live = UserSession.objects.filter(is_active=True, expires_at__gt=Now()).order_by("pk")
    last_pk = 0
    while True:
        rows = list(live.filter(pk__gt=last_pk).only("pk", "user_agent", "ip_address")[:BATCH])
        if not rows:
            return
        for row in rows:
            row.session_fingerprint = _fingerprint(row.user_agent, row.ip_address)
        UserSession.objects.bulk_update(rows, ["session_fingerprint"])
        last_pk = rows[-1].pk


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0009_user_ai_builtin_only"),
    ]

    operations = [
        migrations.AddField(
            model_name="usersession",
            name="fingerprint_mismatch_at",
            field=models.DateTimeField(
                blank=True, help_text="When it was last used from a client other than its own.", null=True
            ),
        ),
        migrations.AddField(
            model_name="usersession",
            name="last_fingerprint",
            field=models.TextField(
                blank=True,
                help_text="The latest other client it was used from (see the audit log).",
                null=True,
            ),
        ),
        migrations.AlterField(
            model_name="usersession",
            name="session_fingerprint",
            field=models.TextField(
                blank=True,
                help_text="The client it was created from: User-Agent family and network.",
                null=True,
            ),
        ),
        migrations.RunPython(recompute_live_fingerprints, migrations.RunPython.noop, elidable=True),
    ]
