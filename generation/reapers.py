"""How the reaper (core.reaper) takes back prompts and persona tasks whose worker went silent."""

from core.reaper import Reaper
from generation.services.avatar_tasks import avatar_task_recover_stale
from generation.services.prompts import prompt_recover_stale

REAPERS = [
    Reaper(
        name="generation.prompts",
        description="image prompts left generating: queued again, failed after IMAGE_GENERATION_MAX_ATTEMPTS",
        run=prompt_recover_stale,
    ),
    Reaper(
        name="generation.avatar_tasks",
        description=(
            "persona tasks silent for AVATAR_TASK_TIMEOUT: resumed from what they wrote, "
            "failed after AVATAR_TASK_MAX_ATTEMPTS"
        ),
        run=avatar_task_recover_stale,
    ),
]
