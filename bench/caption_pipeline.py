"""caption_pipeline: images through a fake vision server answering in a fixed 200 ms, captioned
the way caption tasks do (at most CAPTION_CONCURRENCY at once, here 4) against one at a time.

Both sides run the real task (`caption_task_run`) over the same stored images against the same
fake Mastodon instance; only the concurrency differs. Target: at least 3.5x the images per second.
"""

import io
import json
import logging
import time

from django.test import override_settings
from PIL import Image as PILImage
from pytest_httpserver import HTTPServer
from werkzeug import Response

from bench.report import emit

LATENCY_SECONDS = 0.2
CAPTION = (
    "A bright red square sits centred on a plain white background, with a soft shadow along its "
    "lower edge and a thin grey border around it."
)


def _slow_completion(request):
    time.sleep(LATENCY_SECONDS)
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": json.loads(request.data or b"{}").get("model", "bench"),
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": CAPTION}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    return Response(json.dumps(body), status=200, content_type="application/json")


def _png(seed: int) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (240, 180), ((seed * 37) % 256, (seed * 91) % 256, 120)).save(buffer, "PNG")
    return buffer.getvalue()


def run(*, scale: str) -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from accounts.models import User
    from captions.models import CaptionGenerationTask, CaptionGenerationUserSettings, Image, ImageStatus
    from captions.services.tasks import caption_task_create, caption_task_run
    from platforms.models import PlatformConnection
    from tests.fakes.mastodon import FakeMastodon

    count, rounds = (200, 3) if scale == "full" else (40, 2)
    vision = HTTPServer(threaded=True)
    platform = HTTPServer(threaded=True)
    vision.start()
    platform.start()
    try:
        vision.expect_request("/v1/chat/completions", method="POST").respond_with_handler(_slow_completion)
        fake = FakeMastodon(platform)
        for seed in range(count):
            status = fake.add_status(text=f"post {seed}", media=[None])
            fake.files[status["media_attachments"][0]["id"]] = _png(seed)

        user = User.objects.create_user(username="bench", email="bench@example.test", password=None)
        connection = PlatformConnection.objects.create(
            user=user,
            name="bench",
            platform_type="mastodon",
            instance_url=fake.base_url,
            access_token=fake.token,
        )
        CaptionGenerationUserSettings.objects.create(
            user=user, platform_connection=connection, max_posts_per_run=500, processing_delay=0
        )

        def images_per_second(concurrency: int) -> float:
            Image.objects.update(
                generated_caption=None, caption_quality_score=None, status=ImageStatus.PENDING
            )
            CaptionGenerationTask.objects.all().delete()
            with override_settings(CAPTION_CONCURRENCY=concurrency):
                task = caption_task_create(user=user, connection=connection)
                started = time.monotonic()
                caption_task_run(task_id=task.pk)
                elapsed = time.monotonic() - started
            done = Image.objects.exclude(generated_caption=None).count()
            if done != count:
                raise RuntimeError(
                    f"only {done} of {count} images were captioned at concurrency {concurrency}"
                )
            return count / elapsed

        settings_for_ai = {
            "AI_BACKEND": "openai",
            "AI_BASE_URL": vision.url_for("/v1"),
            "AI_API_KEY": "bench",
        }
        with override_settings(**settings_for_ai):
            images_per_second(4)  # warm-up: scan, download and store every image once
            ours, baseline = [], []
            for _ in range(rounds):
                ours.append(images_per_second(4))
                baseline.append(images_per_second(1))
    finally:
        vision.stop()
        platform.stop()

    best_ours, best_baseline = max(ours), max(baseline)
    emit(
        name="caption_pipeline",
        ours=best_ours,
        baseline=best_baseline,
        unit="img/s",
        ratio=best_ours / best_baseline,
        op=">=",
        target=3.5,
        note=f"caption task at concurrency 4 vs 1, {count} images, fake vision server at 200 ms a call",
    )
    latency_ms = LATENCY_SECONDS * 1000
    print(
        f"# caption_pipeline: {count} images, {rounds} rounds each, {latency_ms:.0f} ms per AI call "
        "(classification and caption: two calls an image)"
    )
