import os

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from core.ai import AIBackend, get_backend
from core.ai.builtin import BuiltinBackend
from core.ai.openai_backend import OpenAIBackend
from core.ai.registry import backend_names


def test_the_default_is_the_offline_builtin_backend():
    from django.conf import settings

    assert os.environ.get("AI_BACKEND", "builtin") == settings.AI_BACKEND
    with override_settings(AI_BACKEND="builtin"):
        assert isinstance(get_backend(), BuiltinBackend)


@override_settings(AI_BACKEND="openai", AI_BASE_URL="http://127.0.0.1:9/v1", AI_VISION_MODEL="llava:7b")
def test_settings_choose_the_openai_backend():
    backend = get_backend()
    assert isinstance(backend, OpenAIBackend)
    assert backend.base_url == "http://127.0.0.1:9/v1"
    assert backend.vision_model == "llava:7b"


@override_settings(AI_BACKEND="openai")
@pytest.mark.parametrize(("name", "kind"), [("builtin", BuiltinBackend), (" OpenAI ", OpenAIBackend)])
def test_a_name_overrides_the_setting(name, kind):
    assert isinstance(get_backend(name), kind)


@pytest.mark.parametrize("name", ["ollama", "", "gpt"])
def test_unknown_names_list_the_valid_ones(name):
    with pytest.raises(ImproperlyConfigured, match="valid names are builtin, openai"):
        get_backend(name)


@override_settings(AI_BACKEND="llamacpp")
def test_an_unknown_setting_is_a_configuration_error():
    with pytest.raises(ImproperlyConfigured, match=r"'llamacpp' \(setting AI_BACKEND\)"):
        get_backend()


def test_every_backend_keeps_the_interface_and_is_fresh_per_call():
    assert backend_names() == ["builtin", "openai"]
    for name in backend_names():
        backend = get_backend(name)
        assert isinstance(backend, AIBackend)
        assert backend.name == name
        assert get_backend(name) is not backend
