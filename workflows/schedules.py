from core.schedules import RecurringTask

SCHEDULES = [
    # Claims due publishing jobs (scheduled ones whose time came, queued ones whose task was lost)
    # and takes back jobs whose worker died mid-publish.
    RecurringTask(
        name="workflows.dispatch_due_publishing_jobs",
        func="workflows.tasks.dispatch_due_publishing_jobs",
        minutes=1,
    ),
    # Takes up engine steps whose worker died or raised (stale heartbeat), or whose queued message
    # was lost; fails them once their attempts are used up (workflows.services.engine).
    RecurringTask(
        name="workflows.resume_stale_platform_steps",
        func="workflows.tasks.resume_stale_platform_steps",
        minutes=5,
    ),
]
