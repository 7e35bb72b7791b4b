"""A default storage that fails the way a remote object store does when it is unreachable.

Local files (FileSystemStorage under the tests' MEDIA_ROOT), except that deleting a name containing
`unreachable` raises what a failing S3/MinIO call surfaces as (botocore's errors subclass
Exception; a 503 "SlowDown" or a connection error). Its text carries a signed URL, as such errors
can, so tests can check that nothing of it is logged.
"""

from django.core.files.storage import FileSystemStorage

LEAKY_TEXT = "https://minio.internal/media?X-Amz-Credential=AKIAEXAMPLESECRET&X-Amz-Signature=0f1e2d"


class UnreachableStorage(FileSystemStorage):
    def delete(self, name):
        if "unreachable" in name:
            raise ConnectionError(f"Could not connect to the endpoint URL: {LEAKY_TEXT}")
        return super().delete(name)


def use_unreachable_storage(settings) -> None:
    """Make it the default storage for one test (pytest-django's `settings` fixture resets it)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "tests.fakes.storage.UnreachableStorage"},
    }
