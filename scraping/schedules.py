from core.schedules import RecurringTask

SCHEDULES = [
    # A running job whose worker died is resumed from its items (or failed after 3 attempts).
    RecurringTask(
        name="scraping.resume_stale_jobs", func="scraping.tasks.resume_stale_scraping_jobs", minutes=5
    ),
]
