"""The image step of a persona task: one base image per persona, then variations of it.

For each persona: a base "selfie" image from its traits and bio (`ImageRequest(count=1)`), then the
remaining `images_per_persona - 1` images as variations of the base (`reference=base bytes`) in
calls of at most `VARIATION_BATCH` (as the original did). Files go through Django's storage API at
`personas/<task_id>/<position>/<n>.<ext>` (n from 1, without gaps) and their keys into
`GeneratedPersona.images`.

Why it is built this way:
- Resumable without duplicates: a persona's row is updated after every call (keys and errors), and
  a re-run starts from what the row says is done. A file written before a crash but not recorded is
  overwritten at the same key, never saved a second time under another name.
- A moderation refusal (`ImageBackendRefused`) costs only the images of that call: it is recorded in
  `image_errors` and the step goes on. A refused base image leaves the persona without images (there
  is nothing to make variations of); the other personas continue.
- Other backend errors (auth, unavailable after the backend's own retries, configuration) end the
  step: the caller fails the task, and a retry resumes here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db.models import F
from django.utils import timezone

from generation.backends.base import ImageBackend, ImageBackendRefused, ImageRequest, ImageResult
from generation.models import GeneratedPersona, GenerationTask

VARIATION_BATCH = 4
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}
MAX_SEED = 2**31 - 1
BASE_PROMPT = (
    "A casual, realistic smartphone selfie of {who}. Natural light, everyday setting, candid "
    "expression, photographed as a real social media profile picture.{extra}"
)
VARIATION_PROMPT = (
    "The same person as in the reference image ({who}), in a different everyday photo: another "
    "place, outfit, pose or moment, same face and build, realistic smartphone photo."
)


def _who(persona: GeneratedPersona) -> str:
    traits = [f"{persona.age}-year-old"] if persona.age else []
    traits += [part for part in (persona.ethnicity, persona.gender) if part]
    who = f"a {' '.join(traits)} person" if traits else "an adult person"
    if persona.job_title:
        who += f" who works as {persona.job_title}"
    if persona.current_city:
        who += f" in {persona.current_city}"
    return who


def base_prompt(persona: GeneratedPersona) -> str:
    about = " ".join((persona.about or persona.bio_instagram or "").split())[:300]
    extra = f" Their bio: {about}" if about else ""
    return BASE_PROMPT.format(who=_who(persona), extra=extra)


def variation_prompt(persona: GeneratedPersona) -> str:
    return VARIATION_PROMPT.format(who=_who(persona))


def image_seed(*, task_id: str, position: int, number: int) -> int:
    digest = hashlib.sha256(f"{task_id}:{position}:{number}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & MAX_SEED


def image_key(*, task_id: str, position: int, number: int, mime_type: str) -> str:
    return f"personas/{task_id}/{position}/{number}.{EXTENSIONS.get(mime_type, 'png')}"


def images_attempted(persona: GeneratedPersona) -> int:
    """Images stored plus images given up on (refused or missing): what a re-run skips."""
    return _attempted(images=persona.images, image_errors=persona.image_errors)


def _attempted(*, images, image_errors) -> int:
    errors = image_errors if isinstance(image_errors, list) else []
    given_up = sum(int(e.get("count", 1)) for e in errors if isinstance(e, dict))
    return len(images or []) + given_up


def persona_images_done(persona: GeneratedPersona, *, planned: int) -> bool:
    return images_done(images=persona.images, image_errors=persona.image_errors, planned=planned)


def images_done(*, images, image_errors, planned: int) -> bool:
    """Every planned image stored or given up on, or the base image refused (no variation can
    follow): a persona's two image columns as stored."""
    if _attempted(images=images, image_errors=image_errors) >= planned:
        return True
    errors = image_errors if isinstance(image_errors, list) else []
    return not images and any(isinstance(e, dict) and e.get("base") for e in errors)


@dataclass
class PersonaImages:
    """Runs the calls for one persona; `keep_going()` writes the heartbeat and says whether the
    task is still running (False stops before the next call)."""

    task: GenerationTask
    persona: GeneratedPersona
    backend: ImageBackend
    keep_going: Callable[[], bool]

    @property
    def planned(self) -> int:
        return int(self.task.images_per_persona)

    def run(self) -> bool:
        """Generate what is missing; False when the task stopped meanwhile."""
        persona = self.persona
        persona.images = list(persona.images or [])
        persona.image_errors = list(persona.image_errors or [])
        if persona_images_done(persona, planned=self.planned):
            return True
        if not persona.images:
            if not self.keep_going():
                return False
            if not self._base():
                return True
        base = self._read(persona.images[0])
        while images_attempted(persona) < self.planned:
            if not self.keep_going():
                return False
            count = min(VARIATION_BATCH, self.planned - images_attempted(persona))
            self._call(
                ImageRequest(
                    prompt=variation_prompt(persona),
                    seed=self._seed(len(persona.images) + 1),
                    count=count,
                    reference=base,
                ),
                count=count,
            )
        return True

    def _seed(self, number: int) -> int:
        return image_seed(task_id=self.task.task_id, position=self.persona.position, number=number)

    def _base(self) -> bool:
        """The base image; False when it was refused (recorded) and the persona gets no images."""
        request = ImageRequest(prompt=base_prompt(self.persona), seed=self._seed(1), count=1)
        try:
            results = self.backend.generate(request)
        except ImageBackendRefused as exc:
            self._record(
                [], error=self._error(number=1, count=self.planned, kind="refused", exc=exc, base=True)
            )
            return False
        if not results:
            self._record([], error=self._error(number=1, count=self.planned, kind="empty", base=True))
            return False
        self._record(results[:1])
        return True

    def _call(self, request: ImageRequest, *, count: int) -> None:
        number = len(self.persona.images) + 1
        try:
            results = self.backend.generate(request)[:count]
        except ImageBackendRefused as exc:
            self._record([], error=self._error(number=number, count=count, kind="refused", exc=exc))
            return
        missing = count - len(results)
        error = self._error(number=number + len(results), count=missing, kind="empty") if missing else None
        self._record(results, error=error)

    def _error(self, *, number: int, count: int, kind: str, exc: Exception | None = None, base=False) -> dict:
        message = str(exc) if exc is not None else "The image backend returned fewer images than asked for."
        error = {
            "number": number,
            "count": count,
            "kind": kind,
            "error": message[:500],
            "backend": self.backend.name,
            "at": timezone.now().isoformat(),
        }
        if base:
            error["base"] = True
        return error

    def _record(self, results: list[ImageResult], *, error: dict | None = None) -> None:
        persona = self.persona
        for result in results:
            key = image_key(
                task_id=self.task.task_id,
                position=persona.position,
                number=len(persona.images) + 1,
                mime_type=result.mime_type,
            )
            persona.images.append(_store(key, result.data))
        if error is not None:
            persona.image_errors.append(error)
        GeneratedPersona.objects.filter(pk=persona.pk).update(
            images=persona.images, image_errors=persona.image_errors
        )
        if results:
            GenerationTask.objects.filter(pk=self.task.pk).update(
                images_generated=F("images_generated") + len(results), updated_at=timezone.now()
            )

    @staticmethod
    def _read(key: str) -> bytes:
        with default_storage.open(key, "rb") as handle:
            return handle.read()


def _store(key: str, data: bytes) -> str:
    """Save at exactly `key`: a leftover of an interrupted run is replaced, not kept beside."""
    if default_storage.exists(key):
        default_storage.delete(key)
    return default_storage.save(key, ContentFile(data))
