from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Console"

    def ready(self) -> None:
        # The admin index's "Needs attention" block reads every app; core's admin site only
        # declares the hook (core.admin_site), so the kernel imports no app.
        from console.dashboard import admin_attention_items
        from core.admin_site import attention_items_provider_set

        attention_items_provider_set(admin_attention_items)
