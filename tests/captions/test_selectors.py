"""The caption length rule, asked once for the services, the API and the admin (captions.selectors)."""

import pytest

from captions.models import Image
from captions.selectors import caption_length_limit, with_length_limit
from tests.factories.captions import CaptionGenerationUserSettingsFactory, ImageFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("setting", "instance_limit", "expected"),
    [
        (None, None, 500),  # no setting: 500; the instance's default description limit is 1500
        (200, None, 200),
        (1000, 900, 900),
        (200, 100, 100),  # the instance's own limit caps the user's setting
        (None, 4200, 500),
    ],
)
def test_the_limit_is_the_same_with_and_without_the_annotation(setting, instance_limit, expected):
    image = ImageFactory()
    connection = image.platform_connection
    if instance_limit is not None:
        connection.extra = {"description_limit": instance_limit}
        connection.save()
    if setting is not None:
        CaptionGenerationUserSettingsFactory(platform_connection=connection, max_caption_length=setting)
    plain = Image.objects.select_related("platform_connection").get(pk=image.pk)
    annotated = with_length_limit(Image.objects.select_related("platform_connection")).get(pk=image.pk)
    assert caption_length_limit(image=plain) == expected
    assert caption_length_limit(image=annotated) == expected
