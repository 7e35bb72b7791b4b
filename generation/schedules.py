from core.schedules import RecurringTask

SCHEDULES = [
    # A persona task whose worker died (no heartbeat for AVATAR_TASK_TIMEOUT) is queued again to resume.
    RecurringTask(
        name="generation.recover_stale_avatar_tasks",
        func="generation.tasks.recover_stale_avatar_tasks",
        minutes=5,
    ),
    # A prompt left running by a dead worker is queued again (or failed once out of attempts).
    RecurringTask(
        name="generation.recover_stale_prompts",
        func="generation.tasks.recover_stale_prompts",
        minutes=5,
    ),
]
