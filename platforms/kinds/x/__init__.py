"""X (formerly Twitter): short posts through API v2."""

from platforms.kinds.base import Form, Kind, WritingRules

X_WRITING = WritingRules(
    name="X",
    form=Form.SHORT_POST,
    text_limit=280,
    hashtags=(2, 3),
    hashtags_by_length=(2, 2, 3),
    sentences_by_length=(1, 2, 3),
    guide=(
        "X (Twitter): one post of at most {limit} characters, hashtags and links included; open with a "
        "hook; 2-3 hashtags; a short call to action when it fits."
    ),
)


class XKind(Kind):
    type = "x"
    label = "X"
    target = "x"
    writing = X_WRITING
    verifiable = True

    def publisher_class(self):
        from platforms.kinds.x.publisher import XPublisher

        return XPublisher


KIND = XKind()
