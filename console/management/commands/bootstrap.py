import secrets

from django.conf import settings
from django.core.cache.backends.db import DatabaseCache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction

from accounts.models import Role, User
from accounts.roles import sync_role_groups
from accounts.services.audit import audit_log_write
from accounts.services.users import user_set_role
from core.management.base import ProjectCommand
from core.schedules import sync_schedules


class Command(ProjectCommand):
    help = (
        "Prepare a migrated database for use; safe to run any number of times.\n\n"
        "Creates the role groups and their permissions, the django-q2 schedules, the cache table,\n"
        "and the operator account from ADMIN_USERNAME / ADMIN_EMAIL / ADMIN_PASSWORD. When\n"
        "ADMIN_PASSWORD is unset, a password is generated and printed once, when the account is\n"
        "created. An existing operator's password is never changed.\n\n"
        "With --demo it also loads the demo (console/demo/data.py): the accounts demo-user (role user)\n"
        "and demo-reviewer (role reviewer), their passwords printed once; a Mastodon connection to\n"
        "the built-in demo instance at DEMO_INSTANCE_URL (default http://127.0.0.1:8001; started in\n"
        "this process for the load when nothing answers there); and one finished run of each\n"
        "pipeline on the configured (by default builtin, offline) backends: images captioned and\n"
        "pending review, a workflow awaiting review, a scraping job over the demo site, a prompt\n"
        "with images and a persona task. Loading again changes nothing.\n\n"
        "Examples:\n"
        "  python manage.py bootstrap\n"
        "  ADMIN_USERNAME=ops ADMIN_PASSWORD='long secret' python manage.py bootstrap\n"
        "  python manage.py bootstrap --demo\n"
        "  DEMO_INSTANCE_URL=http://127.0.0.1:9001 python manage.py bootstrap --demo"
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--demo",
            action="store_true",
            help="Also load the demo accounts and data (see above); safe to repeat.",
        )

    def handle(self, *args, demo=False, **options):
        from django.core.cache import caches

        if isinstance(caches["default"], DatabaseCache):
            call_command("createcachetable", verbosity=0)

        counts = sync_role_groups()
        self.stdout.write(
            "Role groups: " + ", ".join(f"{role} ({n} permissions)" for role, n in counts.items())
        )

        created, updated = sync_schedules()
        self.stdout.write(f"Schedules: {created} created, {updated} updated.")

        self._ensure_operator()
        if demo:
            self._load_demo()

    def _load_demo(self) -> None:
        from console.demo.data import DEFAULT_INSTANCE_URL, DemoLoadError, demo_load

        instance_url = (getattr(settings, "DEMO_INSTANCE_URL", "") or DEFAULT_INSTANCE_URL).strip()
        try:
            summary = demo_load(instance_url=instance_url, out=self.stdout)
        except DemoLoadError as exc:
            raise CommandError(f"The demo could not be loaded: {exc}") from None
        if summary.changed:
            self.stdout.write(self.style.SUCCESS(f"Demo loaded against the demo instance at {instance_url}."))

    @transaction.atomic
    def _ensure_operator(self) -> None:
        username = settings.ADMIN_USERNAME.strip()
        if not username:
            raise CommandError("ADMIN_USERNAME is empty; set it or leave it unset for 'admin'.")
        existing = User.objects.filter(username=username).first()
        if existing is not None:
            self.stdout.write(f"Operator account '{username}' exists; its password is unchanged.")
            return

        password = settings.ADMIN_PASSWORD or secrets.token_urlsafe(18)
        operator = User(username=username, email=settings.ADMIN_EMAIL.strip().lower(), is_superuser=True)
        operator.set_password(password)
        operator.save()
        user_set_role(user=operator, role=Role.ADMIN)
        audit_log_write(
            action="user.created",
            target=operator,
            details={"by": "bootstrap", "role": Role.ADMIN},
        )
        if settings.ADMIN_PASSWORD:
            self.stdout.write(
                self.style.SUCCESS(f"Created operator '{username}' with the password from ADMIN_PASSWORD.")
            )
        else:
            self.stdout.write(self.style.SUCCESS(f"Created operator '{username}'."))
            self.stdout.write(self.style.WARNING(f"  Password (shown once, write it down): {password}"))
