import pytest
from django.core.exceptions import ValidationError

from core.models import SystemConfig
from core.selectors import config_get
from core.services import config_set, config_set_default
from tests.constraints import violates
from tests.factories.core import SystemConfigFactory

pytestmark = pytest.mark.django_db


def test_key_is_unique():
    SystemConfigFactory(key="threshold")
    with violates("idx_system_config_key"):
        SystemConfigFactory(key="threshold")


def test_type_must_be_known():
    with violates("ck_system_config_type"):
        SystemConfigFactory(type="decimal")


def test_sensitive_value_may_not_sit_in_the_plain_column():
    with violates("ck_system_config_secret_not_plain"):
        SystemConfigFactory(is_sensitive=True, value="exposed")


@pytest.mark.parametrize(
    ("value", "value_type", "expected"),
    [
        ("hello", "string", "hello"),
        (70, "int", 70),
        ("0.25", "float", 0.25),
        (True, "bool", True),
        ("off", "bool", False),
        ({"x": [1, 2]}, "json", {"x": [1, 2]}),
    ],
)
def test_typed_values_round_trip(value, value_type, expected):
    config_set(key="k", value=value, value_type=value_type)
    assert config_get(key="k") == expected


@pytest.mark.parametrize(
    ("value", "value_type"),
    [("seventy", "int"), ("1.2.3", "float"), ("maybe", "bool"), ("{not json", "json")],
)
def test_values_that_do_not_parse_are_refused_and_nothing_changes(value, value_type):
    config_set(key="k", value="1", value_type="int")
    with pytest.raises(ValidationError) as excinfo:
        config_set(key="k", value=value, value_type=value_type)
    assert "value" in excinfo.value.message_dict
    assert config_get(key="k") == 1


def test_unknown_type_is_refused():
    with pytest.raises(ValidationError) as excinfo:
        config_set(key="k", value="1", value_type="decimal")
    assert "type" in excinfo.value.message_dict


def test_sensitive_values_are_encrypted_and_masked(raw_column):
    entry = config_set(key="openai_api_key", value="sk-live-abcdefghijklmnop", is_sensitive=True)
    assert raw_column(SystemConfig, entry.pk, "value") is None
    assert "sk-live" not in raw_column(SystemConfig, entry.pk, "secret_value")
    assert config_get(key="openai_api_key") == "sk-live-abcdefghijklmnop"
    assert entry.display_value == "••••mnop"


def test_turning_a_setting_sensitive_moves_its_value_out_of_the_plain_column(raw_column):
    config_set(key="token", value="was-plain-but-secret")
    entry = config_set(key="token", value="was-plain-but-secret", is_sensitive=True)
    assert raw_column(SystemConfig, entry.pk, "value") is None
    assert SystemConfig.objects.filter(key="token").count() == 1


def test_missing_setting_gives_the_default():
    assert config_get(key="absent", default=3) == 3


def test_set_default_never_overwrites():
    assert config_set_default(key="k", value="first") is True
    assert config_set_default(key="k", value="second") is False
    assert config_get(key="k") == "first"


def test_bio_prompt_defaults_are_seeded_by_migration():
    keys = set(SystemConfig.objects.filter(key__startswith="bio_prompt_").values_list("key", flat=True))
    assert keys == {"bio_prompt_facebook", "bio_prompt_instagram", "bio_prompt_x", "bio_prompt_tiktok"}
    for key in keys:
        text = config_get(key=key)
        assert "{language}" in text and "{persona}" in text
