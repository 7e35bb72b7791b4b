"""core.locking.row_lock: the row read again, locked, as the services' read-check-write steps need."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from captions.models import Image
from core.locking import row_lock
from tests.factories.captions import ImageFactory

pytestmark = pytest.mark.django_db


def test_the_row_is_read_again_as_it_is_now():
    image = ImageFactory(reviewer_notes="before")
    Image.objects.filter(pk=image.pk).update(reviewer_notes="after")
    with transaction.atomic():
        locked = row_lock(row=image, related=("platform_connection",))
    assert locked is not image
    assert locked.reviewer_notes == "after"
    assert image.reviewer_notes == "before"


def test_related_rows_come_in_the_same_query():
    image = ImageFactory()
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        locked = row_lock(row=image, related=("platform_connection",))
        assert locked.platform_connection.pk == image.platform_connection_id
    assert len(queries) == 1
    if connection.features.has_select_for_update:
        assert "FOR UPDATE" in queries[0]["sql"]


def test_a_row_deleted_meanwhile_raises_does_not_exist():
    image = ImageFactory()
    Image.objects.filter(pk=image.pk).delete()
    with transaction.atomic(), pytest.raises(Image.DoesNotExist):
        row_lock(row=image)
