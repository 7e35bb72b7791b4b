from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and access"

    def ready(self):
        from accounts import signals

        signals.connect()

        from django.core import checks

        from accounts.checks import check_rate_limits

        checks.register(check_rate_limits)
