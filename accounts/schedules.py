from core.schedules import RecurringTask

SCHEDULES = [
    RecurringTask(
        name="accounts.prune_rate_limit_windows", func="accounts.tasks.prune_rate_limit_windows", minutes=60
    ),
    RecurringTask(
        name="accounts.dispatch_notification_deliveries",
        func="accounts.tasks.dispatch_notification_deliveries",
        minutes=1,
    ),
]
