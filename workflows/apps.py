from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = "Workflows"

    def ready(self) -> None:
        from platforms.health import connection_restored_hook_add
        from workflows.services.publishing import publishing_jobs_resume_for_connection

        # Publishing jobs held on a broken connection go again once it works (platforms.health).
        connection_restored_hook_add(publishing_jobs_resume_for_connection)
