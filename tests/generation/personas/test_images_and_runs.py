"""The image step (base image, variations, refusals, resume) and the task's life (claim, reaper)."""

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from generation.models import GeneratedPersona, GenerationTask, TaskStatus
from generation.personas.data import BuiltinPersonaWriter
from generation.personas.images import VARIATION_BATCH
from generation.services.avatar_tasks import avatar_task_recover_stale, avatar_task_run
from tests.factories.generation import GeneratedPersonaFactory, GenerationTaskFactory
from tests.generation.personas.conftest import ScriptedImageBackend

pytestmark = pytest.mark.django_db


def run(task, backend, writer=None):
    return avatar_task_run(
        task_id=task.task_id, writer=writer or BuiltinPersonaWriter(), image_backend=backend
    )


def test_base_image_then_variations_in_batches_of_four():
    backend = ScriptedImageBackend()  # the builtin (Pillow) backend underneath
    task = GenerationTaskFactory(number_to_generate=2, images_per_persona=8)

    assert run(task, backend) == TaskStatus.COMPLETED

    # per persona: a base (count 1, no reference), then 4 + 3 variations of it
    assert [(r.count, r.reference is not None) for r in backend.requests] == [
        (1, False),
        (VARIATION_BATCH, True),
        (3, True),
    ] * 2
    first = GeneratedPersona.objects.get(task=task, position=0)
    assert first.images == [f"personas/{task.task_id}/0/{n}.png" for n in range(1, 9)]
    with default_storage.open(first.images[0], "rb") as handle:
        base = handle.read()
    assert backend.requests[1].reference == base
    assert first.job_title in backend.requests[0].prompt  # the base image is drawn from the traits
    assert Image.open(default_storage.path(first.images[5])).format == "PNG"
    task.refresh_from_db()
    assert task.images_generated == 16 and task.status == TaskStatus.COMPLETED


def test_a_refused_image_is_recorded_and_the_rest_continue(image_backend):
    image_backend.refuse = {2}  # the first persona's first batch of variations
    task = GenerationTaskFactory(number_to_generate=3, images_per_persona=8)

    assert run(task, image_backend) == TaskStatus.COMPLETED

    first, second, third = GeneratedPersona.objects.filter(task=task).order_by("position")
    assert len(first.images) == 4  # base + the second batch (3); the refused 4 are missing
    assert first.images == [f"personas/{task.task_id}/0/{n}.png" for n in range(1, 5)]  # no gaps
    [error] = first.image_errors
    assert error["kind"] == "refused" and error["count"] == 4 and error["number"] == 2
    assert "safety filter" in error["error"]
    assert len(second.images) == 8 and len(third.images) == 8
    task.refresh_from_db()
    assert task.images_generated == 20


def test_a_refused_base_image_skips_that_persona_only(image_backend):
    image_backend.refuse = {1}
    task = GenerationTaskFactory(number_to_generate=2, images_per_persona=4)

    assert run(task, image_backend) == TaskStatus.COMPLETED

    first, second = GeneratedPersona.objects.filter(task=task).order_by("position")
    assert first.images == [] and first.image_errors[0]["base"] is True
    assert len(second.images) == 4


def test_a_rerun_resumes_without_duplicating_personas_or_images(image_backend):
    task = GenerationTaskFactory(
        number_to_generate=3, images_per_persona=8, status=TaskStatus.PENDING, attempts=1
    )
    # a previous run wrote two personas, and one of them got its base and one batch
    run_before = GeneratedPersonaFactory(task=task, position=0)
    GeneratedPersonaFactory(task=task, position=1)
    earlier = ScriptedImageBackend(inner=image_backend.inner)
    from generation.personas.images import PersonaImages

    PersonaImages(task=task, persona=run_before, backend=earlier, keep_going=lambda: True)._base()

    assert run(task, image_backend) == TaskStatus.COMPLETED

    personas = GeneratedPersona.objects.filter(task=task).order_by("position")
    assert [p.position for p in personas] == [0, 1, 2]
    assert [len(p.images) for p in personas] == [8, 8, 8]
    assert all(len(set(p.images)) == 8 for p in personas)
    # persona 0 resumed from its base: only variations were asked for it
    assert [r.reference is not None for r in image_backend.requests[:2]] == [True, True]
    task.refresh_from_db()
    assert task.attempts == 2


def test_a_second_delivery_claims_nothing(image_backend):
    task = GenerationTaskFactory(number_to_generate=1)
    assert run(task, image_backend) == TaskStatus.COMPLETED
    calls = len(image_backend.requests)
    assert run(task, image_backend) is None
    assert len(image_backend.requests) == calls
    running = GenerationTaskFactory(status=TaskStatus.GENERATING_DATA)
    assert run(running, image_backend) is None


def test_image_backend_failure_fails_the_task_with_its_message(image_backend):
    from generation.backends.base import ImageBackendAuthError

    class Expired(ScriptedImageBackend):
        def generate(self, request):
            raise ImageBackendAuthError("The ImageFX cookie has expired; add a fresh one.")

    task = GenerationTaskFactory(number_to_generate=1)
    assert run(task, Expired(inner=image_backend.inner)) == TaskStatus.FAILED
    task.refresh_from_db()
    assert task.error_log == "Generating images failed: The ImageFX cookie has expired; add a fresh one."
    assert task.completed_at is not None and task.personas_generated == 1


def test_status_moves_through_every_step(image_backend):
    seen = []

    class Watching(ScriptedImageBackend):
        def generate(self, request):
            seen.append(GenerationTask.objects.get(pk=task.pk).status)
            return super().generate(request)

    class WatchingWriter(BuiltinPersonaWriter):
        def write(self, **kwargs):
            seen.append(GenerationTask.objects.get(pk=task.pk).status)
            return super().write(**kwargs)

    task = GenerationTaskFactory(number_to_generate=1, images_per_persona=4)
    assert task.status == TaskStatus.PENDING
    run(task, Watching(inner=image_backend.inner), writer=WatchingWriter())
    assert set(seen) == {TaskStatus.GENERATING_DATA, TaskStatus.GENERATING_IMAGES}
    task.refresh_from_db()
    assert task.status == TaskStatus.COMPLETED and task.started_at <= task.completed_at


# --- the reaper ---------------------------------------------------------------------------------


def test_reaper_requeues_silent_tasks_and_fails_them_after_the_attempt_limit(settings, monkeypatch):
    settings.AVATAR_TASK_TIMEOUT = 900
    settings.AVATAR_TASK_MAX_ATTEMPTS = 3
    queued = []
    monkeypatch.setattr("generation.services.avatar_tasks._queue", queued.append)
    old = timezone.now() - timedelta(seconds=901)
    data = GenerationTaskFactory(status=TaskStatus.GENERATING_DATA, heartbeat_at=old, attempts=1)
    images = GenerationTaskFactory(status=TaskStatus.GENERATING_IMAGES, heartbeat_at=old, attempts=2)
    worn = GenerationTaskFactory(status=TaskStatus.GENERATING_IMAGES, heartbeat_at=old, attempts=3)
    alive = GenerationTaskFactory(status=TaskStatus.GENERATING_DATA, heartbeat_at=timezone.now(), attempts=1)
    lost = GenerationTaskFactory(status=TaskStatus.PENDING)
    GenerationTask.objects.filter(pk=lost.pk).update(updated_at=old)

    outcome = avatar_task_recover_stale()

    assert outcome == {"requeued": 2, "failed": 1, "resent": 1}
    statuses = dict(GenerationTask.objects.values_list("pk", "status"))
    assert statuses[data.pk] == TaskStatus.PENDING
    assert statuses[images.pk] == TaskStatus.DATA_GENERATED
    assert statuses[worn.pk] == TaskStatus.FAILED
    assert statuses[alive.pk] == TaskStatus.GENERATING_DATA
    worn.refresh_from_db()
    assert "stopped responding" in worn.error_log and worn.completed_at is not None
    # requeued tasks go on commit (the test transaction never commits), the lost one at once
    assert queued == [lost.task_id]
    assert avatar_task_recover_stale() == {"requeued": 0, "failed": 0, "resent": 0}


def test_a_recovered_task_resumes_its_images(image_backend):
    task = GenerationTaskFactory(
        number_to_generate=1,
        images_per_persona=4,
        status=TaskStatus.GENERATING_IMAGES,
        heartbeat_at=timezone.now() - timedelta(hours=1),
        attempts=1,
    )
    GeneratedPersonaFactory(task=task, position=0)
    avatar_task_recover_stale()
    assert run(task, image_backend) == TaskStatus.COMPLETED
    assert len(GeneratedPersona.objects.get(task=task).images) == 4


# --- a run with nothing left to do (benchmark queue_drain) ---------------------------------------


def test_a_task_with_nothing_left_completes_in_two_writes(monkeypatch, django_assert_num_queries):
    def unwanted(**_kwargs):
        raise AssertionError("nothing was left to write or draw")

    monkeypatch.setattr("generation.services.avatar_tasks.persona_writer_for", unwanted)
    monkeypatch.setattr("generation.backends.image_backend_for", unwanted)
    told = []  # the owner's notification (its queries are the notification service's own)
    monkeypatch.setattr(
        "generation.services.avatar_tasks.avatar_task_ended_notify", lambda **kwargs: told.append(kwargs)
    )
    task = GenerationTaskFactory(number_to_generate=1, images_per_persona=4, status=TaskStatus.PENDING)
    GeneratedPersonaFactory(task=task, position=0, images=[f"k/{n}.png" for n in range(1, 5)])

    # claim (UPDATE ... RETURNING the personas and their images), completed
    with django_assert_num_queries(2):
        assert avatar_task_run(task_id=task.task_id) == TaskStatus.COMPLETED
    assert [(kwargs["pk"], kwargs["failed"]) for kwargs in told] == [(task.pk, False)]
    # The row handed to the notification (instead of reading it again) is the row as stored.
    given = told[0]["task"]
    task.refresh_from_db()
    assert task.status == TaskStatus.COMPLETED and task.error_log is None
    assert task.attempts == 1 and task.personas_generated == 1
    assert task.started_at is not None and task.heartbeat_at == task.completed_at
    for field in GenerationTask._meta.concrete_fields:
        assert getattr(given, field.attname) == getattr(task, field.attname), field.name


@pytest.mark.django_db(transaction=True)  # as in a worker: autocommit, no savepoint for the row
def test_a_task_with_nothing_left_tells_its_owner_in_two_more_queries(monkeypatch, django_assert_num_queries):
    from accounts.models import Notification

    task = GenerationTaskFactory(number_to_generate=1, images_per_persona=4, status=TaskStatus.PENDING)
    GeneratedPersonaFactory(task=task, position=0, images=[f"k/{n}.png" for n in range(1, 5)])

    # the run's two, then the owner with their channels for the event, and the notification
    with django_assert_num_queries(4):
        assert avatar_task_run(task_id=task.task_id) == TaskStatus.COMPLETED
    (notification,) = Notification.objects.filter(user=task.user)
    assert notification.key == f"persona_task:{task.pk}:finished"
    assert notification.body == "1 persona(s) and 0 image(s) generated."


def test_a_task_failed_meanwhile_is_not_completed_over(monkeypatch):
    task = GenerationTaskFactory(number_to_generate=1, images_per_persona=4, status=TaskStatus.PENDING)
    GeneratedPersonaFactory(task=task, position=0, images=[f"k/{n}.png" for n in range(1, 5)])
    from generation.services import avatar_tasks

    claimed_left = avatar_tasks._claimed_left

    def reaped_while_planning(task_row):
        # The reaper fails the task between the claim and the completing UPDATE.
        GenerationTask.objects.filter(pk=task_row.pk).update(status=TaskStatus.FAILED, error_log="reaped")
        return claimed_left(task_row)

    monkeypatch.setattr(avatar_tasks, "_claimed_left", reaped_while_planning)

    assert avatar_task_run(task_id=task.task_id) == TaskStatus.FAILED

    task.refresh_from_db()
    assert task.status == TaskStatus.FAILED and task.error_log == "reaped" and task.completed_at is None


def test_a_claim_keeps_the_first_start_and_counts_each_run(image_backend):
    started = timezone.now() - timedelta(hours=2)
    task = GenerationTaskFactory(
        number_to_generate=1, status=TaskStatus.DATA_GENERATED, attempts=1, started_at=started
    )
    GeneratedPersonaFactory(task=task, position=0)

    assert run(task, image_backend) == TaskStatus.COMPLETED

    task.refresh_from_db()
    assert task.started_at == started and task.attempts == 2 and task.error_log is None


@pytest.mark.parametrize("status", [TaskStatus.PENDING, TaskStatus.DATA_GENERATED])
def test_the_claim_sees_the_images_left_as_a_fresh_read_does(status):
    from generation.services import avatar_tasks

    task = GenerationTaskFactory(number_to_generate=6, images_per_persona=4, status=status)
    keys = [f"k/{n}.png" for n in range(1, 5)]
    states = {  # written out of position order: the claim's JSON has no order of its own
        5: {"images": keys[:2], "image_errors": [{"count": 2, "error": "refused"}]},  # done
        0: {"images": keys[:3], "image_errors": []},  # one missing
        3: {"images": [], "image_errors": [{"base": True, "error": "refused"}]},  # base refused: done
        1: {"images": keys, "image_errors": []},  # done
        4: {"images": [], "image_errors": []},  # nothing yet
        2: {"images": keys[:1], "image_errors": [{"count": 1, "error": "refused"}]},  # two missing
    }
    for position, images in states.items():
        GeneratedPersonaFactory(task=task, position=position, **images)
    by_position = dict(GeneratedPersona.objects.filter(task=task).values_list("position", "pk"))

    target = TaskStatus.GENERATING_DATA if status == TaskStatus.PENDING else TaskStatus.GENERATING_IMAGES
    claimed = avatar_tasks._claim(task.task_id, source=status, target=target, count_attempt=True)

    assert claimed.personas_present == 6 and claimed.personas_images is not None
    assert avatar_tasks._claimed_left(claimed) == avatar_tasks._images_left(claimed)
    assert avatar_tasks._claimed_left(claimed) == [by_position[0], by_position[2], by_position[4]]
