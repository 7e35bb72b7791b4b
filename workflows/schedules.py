from core.schedules import RecurringTask

SCHEDULES = [
    # Claims due publishing jobs (scheduled ones whose time came, queued ones whose task was lost)
    # and takes back jobs whose worker died mid-publish.
    RecurringTask(
        name="workflows.dispatch_due_publishing_jobs",
        func="workflows.tasks.dispatch_due_publishing_jobs",
        minutes=1,
    ),
]
