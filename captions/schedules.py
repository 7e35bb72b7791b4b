from core.schedules import RecurringTask

SCHEDULES = [
    # A running caption task whose worker died keeps its connection's one active slot: fail it.
    RecurringTask(
        name="captions.fail_stale_tasks", func="captions.tasks.fail_stale_caption_tasks", minutes=5
    ),
]
