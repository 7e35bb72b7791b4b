"""How the reaper (core.reaper) takes back workflow steps and publishing jobs whose worker went silent."""

from core.reaper import Reaper
from workflows.services.engine import platform_steps_resume_stale
from workflows.services.publishing import publishing_jobs_recover_stale

REAPERS = [
    Reaper(
        name="workflows.platform_steps",
        description=(
            "engine steps silent for WORKFLOW_STEP_TIMEOUT: resumed from their checkpoint, "
            "failed once their attempts are used up"
        ),
        run=platform_steps_resume_stale,
    ),
    # The publishing dispatcher (every minute) runs this too; here it is part of the one report.
    Reaper(
        name="workflows.publishing_jobs",
        description=(
            "publishing jobs silent for PUBLISHING_JOB_TIMEOUT: queued again (the platform is asked "
            "before posting), failed after PUBLISHING_MAX_ATTEMPTS"
        ),
        run=publishing_jobs_recover_stale,
    ),
]
