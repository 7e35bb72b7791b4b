import factory

from platforms.models import PlatformConnection, PlatformType
from tests.factories.accounts import UserFactory


class PlatformConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PlatformConnection

    user = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"connection {n}")
    platform_type = PlatformType.MASTODON
    instance_url = factory.Sequence(lambda n: f"https://social{n}.example.test")
    username = factory.Sequence(lambda n: f"account{n}")
    access_token = factory.Sequence(lambda n: f"token-{n}-abcdefghijklmnopqrstuvwxyz")
