"""How the reaper (core.reaper) takes back caption tasks whose worker went silent."""

from captions.services.tasks import caption_tasks_recover_stale
from core.reaper import Reaper

REAPERS = [
    Reaper(
        name="captions.tasks",
        description="caption tasks silent for CAPTION_TASK_TIMEOUT_MINUTES: queued again once, then failed",
        run=caption_tasks_recover_stale,
    ),
]
