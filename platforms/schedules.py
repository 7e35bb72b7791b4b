from core.schedules import DAY, RecurringTask

SCHEDULES = [
    # Every active connection asked once a day whether it still works (platforms.health).
    RecurringTask(
        name="platforms.check_connections_health",
        func="platforms.tasks.check_connections_health",
        minutes=DAY,
    ),
]
