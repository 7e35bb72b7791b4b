import uuid

import pytest

from core.admin_lists import short_id, short_id_column

WORKFLOW_ID = uuid.UUID("5e3c9ad5-8528-40cd-90ec-84df645518ca")


def test_a_uuid_shows_its_first_eight_digits_and_the_whole_as_its_tooltip():
    assert short_id(WORKFLOW_ID) == '<span title="5e3c9ad5-8528-40cd-90ec-84df645518ca">5e3c9ad5</span>'


def test_a_uuid_given_as_text_is_shortened_the_same_way():
    assert short_id(str(WORKFLOW_ID)) == short_id(WORKFLOW_ID)


def test_a_long_platform_id_shows_its_last_six_characters():
    # Mastodon's ids are snowflakes: the leading digits are a timestamp shared by neighbours.
    assert short_id("113500000000000002") == '<span title="113500000000000002">…000002</span>'


@pytest.mark.parametrize("value", ["abc", "123456789012", 42])
def test_values_of_up_to_twelve_characters_are_shown_whole(value):
    assert short_id(value) == str(value)


def test_a_thirteen_character_value_is_shortened():
    assert short_id("1234567890123") == '<span title="1234567890123">…890123</span>'


def test_the_tooltip_is_escaped():
    assert short_id('"><script>x</script>') == (
        '<span title="&quot;&gt;&lt;script&gt;x&lt;/script&gt;">…cript&gt;</span>'
    )


@pytest.mark.parametrize("value", [None, ""])
def test_no_value_is_a_dash(value):
    assert short_id(value) == "—"


def test_the_column_is_sortable_by_its_field_and_named_by_its_description():
    class Row:
        post_id = "113500000000000002"

    column = short_id_column("post_id", description="Post")
    assert column.short_description == "Post"
    assert column.admin_order_field == "post_id"
    assert column(None, Row()) == short_id(Row.post_id)
