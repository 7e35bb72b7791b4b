import factory

from core.models import ConfigType, SystemConfig


class SystemConfigFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SystemConfig

    key = factory.Sequence(lambda n: f"setting_{n}")
    value = "value"
    type = ConfigType.STRING
