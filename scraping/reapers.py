"""How the reaper (core.reaper) takes back scraping jobs whose worker went silent."""

from core.reaper import Reaper
from scraping.services.jobs import scraping_jobs_resume_stale

REAPERS = [
    Reaper(
        name="scraping.jobs",
        description=(
            "scraping jobs silent for SCRAPING_JOB_TIMEOUT: resumed from their items, failed after 3 runs"
        ),
        run=scraping_jobs_resume_stale,
    ),
]
