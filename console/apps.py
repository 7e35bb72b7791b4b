from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Console"

    def ready(self) -> None:
        # The admin index's "Needs attention" block and its pictures read every app; core's admin
        # site only declares the hooks (core.admin_site), so the kernel imports no app.
        from console.dashboard import admin_attention_items
        from console.dashboard_charts import admin_dashboard_context
        from core.admin_site import attention_items_provider_set, dashboard_context_provider_set

        attention_items_provider_set(admin_attention_items)
        dashboard_context_provider_set(admin_dashboard_context)
