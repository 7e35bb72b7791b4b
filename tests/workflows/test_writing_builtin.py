"""The builtin writer and scorer: platform limits, hashtags, feedback applied, each rule up and down."""

import pytest

from core.ai.base import AIError
from core.ai.builtin import BuiltinBackend
from workflows.writing import (
    CRITERIA,
    SourceMaterial,
    WritingBrief,
    draft_score,
    draft_write,
    platform_char_limit,
)
from workflows.writing import text as t
from workflows.writing.builtin_scoring import WEIGHTS, weighted_score
from workflows.writing.builtin_writer import NOTE, STOCK_CTA, feedback_codes

BUILTIN = BuiltinBackend()

ARTICLE = SourceMaterial(
    title="Socialdesk 2.0 is out",
    urls=("https://example.org/news/socialdesk-2",),
    text=(
        "Socialdesk 2.0 brings content repurposing to every team. It turns one article into drafts for "
        "LinkedIn, X, Mastodon and a blog.\n\n"
        "Each draft is scored against platform rules before a person reviews it. Drafts that score below "
        "the threshold are rewritten with the scorer's feedback.\n\n"
        "Publishing runs on a schedule. Jobs are claimed atomically, so two workers never publish the same "
        "post twice.\n\n"
        "The builtin backend works offline. It selects and formats sentences from the source instead of "
        "inventing new ones. Teams that want richer drafts can point socialdesk at any OpenAI-compatible "
        "server."
    ),
)
LONG_SENTENCE = (
    "Socialdesk turns a single long article about content operations, editorial calendars, review "
    "queues, scheduled publishing and the careful measurement of engagement across many platforms into "
    "a set of drafts that a team can review, refine and publish without copying text between tools by "
    "hand, which saves hours every week for small teams that publish often."
)


def write(platform, source=ARTICLE, **kwargs):
    return draft_write(
        WritingBrief(platform=platform, source=source, options=kwargs.pop("options", {}), **kwargs),
        backend=BUILTIN,
    )


def score(platform, content, **kwargs):
    return draft_score(platform=platform, content=content, backend=BUILTIN, **kwargs)


def source_sentences(source=ARTICLE):
    return {s for p in t.paragraphs(source.text) for s in t.sentences(p)}


# -- limits ---------------------------------------------------------------------------------------


def test_platform_char_limits():
    assert platform_char_limit("x") == 280
    assert platform_char_limit("x", char_limit=1000) == 280  # one limit for everybody on X
    assert platform_char_limit("linkedin") == 3000
    assert platform_char_limit("mastodon") == 500
    assert platform_char_limit("mastodon", char_limit=1000) == 1000
    assert platform_char_limit("blog") is None
    with pytest.raises(ValueError):
        platform_char_limit("myspace")


def test_unknown_platform_and_empty_source_are_input_errors():
    with pytest.raises(AIError):
        write("myspace")
    with pytest.raises(AIError):
        score("myspace", "text")
    with pytest.raises(AIError):
        write("x", source=SourceMaterial(text="   "))


@pytest.mark.parametrize("length", ["short", "medium", "long"])
def test_x_post_fits_280_with_two_or_three_hashtags(length):
    draft = write("x", options={"length": length})
    assert len(draft.content) <= 280
    assert 2 <= len(t.hashtags(draft.content)) <= 3
    assert draft.model == "builtin-rules-1" and draft.backend == "builtin"
    meta = draft.metadata
    assert meta["rule_based"] is True and meta["note"] == NOTE
    assert meta["platform"] == "x" and meta["char_limit"] == 280 and meta["length"] == length
    # honest: every sentence of the body is a sentence of the source
    body = draft.content.split("Read more:")[0]
    for sentence in t.sentences(body):
        assert sentence in source_sentences()


def test_x_trims_a_source_whose_first_sentence_is_too_long():
    source = SourceMaterial(text=LONG_SENTENCE + " " + LONG_SENTENCE.replace("Socialdesk", "It"))
    draft = write("x", source=source, options={"call_to_action": "Try it today."})
    assert len(draft.content) <= 280
    assert draft.content.startswith("Socialdesk turns a single long article")
    assert "…" in draft.content


def test_x_uses_the_users_hashtags_and_call_to_action():
    draft = write("x", options={"hashtags": ["open source", "fediverse"], "call_to_action": "Try it today!"})
    assert "#OpenSource" in draft.content and "#Fediverse" in draft.content
    assert "Try it today!" in draft.content


def test_hashtags_can_be_turned_off_and_the_scorer_respects_it():
    draft = write("mastodon", options={"hashtags": False})
    assert t.hashtags(draft.content) == []
    evaluation = score("mastodon", draft.content, options={"hashtags": False})
    assert "missing hashtags" not in evaluation.feedback
    assert "missing hashtags" in score("mastodon", draft.content).feedback


def test_mastodon_respects_the_instance_limit_with_camelcase_hashtags():
    draft = write("mastodon", char_limit=150, options={"length": "long"})
    assert len(draft.content) <= 150
    assert draft.metadata["char_limit"] == 150
    tags = t.hashtags(draft.content)
    assert 1 <= len(tags) <= 3
    assert all(tag[0].isupper() for tag in tags)


def test_linkedin_has_hook_paragraphs_key_points_cta_and_hashtags():
    draft = write("linkedin", options={"length": "long", "audience": "marketers", "tone": "friendly"})
    content = draft.content
    assert len(content) <= 3000
    assert content.splitlines()[0] == "Socialdesk 2.0 is out"
    assert "\n\n" in content
    assert "Key points:\n• " in content
    assert "Read more: https://example.org/news/socialdesk-2" in content
    assert 3 <= len(t.hashtags(content)) <= 5
    assert draft.metadata["audience"] == "marketers" and draft.metadata["tone"] == "friendly"
    evaluation = score("linkedin", content)
    assert evaluation.criteria_scores["platform_appropriateness"] == 100


def test_linkedin_stays_under_3000_characters_for_a_huge_source():
    source = SourceMaterial(
        text="\n\n".join(f"Paragraph {i} says that teams publish often. " * 6 for i in range(60))
    )
    draft = write("linkedin", source=source, options={"length": "long"})
    assert len(draft.content) <= 3000


def test_linkedin_without_a_link_or_cta_gets_a_stock_question_recorded_in_metadata():
    source = SourceMaterial(text=ARTICLE.text)
    draft = write("linkedin", source=source)
    assert draft.content.splitlines()[0].startswith("Socialdesk 2.0 brings")
    assert STOCK_CTA in draft.content
    assert draft.metadata["stock_phrases"] == [STOCK_CTA]


def test_blog_is_markdown_with_sections_and_sources_but_no_padding():
    draft = write("blog", options={"length": "long"})
    content = draft.content
    assert content.startswith("# Socialdesk 2.0 is out\n\n")
    assert len([line for line in content.splitlines() if line.startswith("## ")]) >= 2
    assert "### " in content  # a long section gets a subheading
    assert (
        "## Sources\n\n- [https://example.org/news/socialdesk-2](https://example.org/news/socialdesk-2)"
        in content
    )
    assert t.hashtags(content) == []
    assert draft.metadata["words"] < 800
    evaluation = score("blog", content)
    assert "too short" in evaluation.feedback  # the scorer says so instead of the writer padding
    assert "no headings" not in evaluation.feedback


def test_length_option_picks_how_many_sentences():
    short = write("linkedin", options={"length": "short"}).content
    long = write("linkedin", options={"length": "long"}).content
    assert len(short) < len(long)


# -- feedback -------------------------------------------------------------------------------------


def test_feedback_codes_recognise_scorer_and_reviewer_phrases():
    codes, unknown = feedback_codes(
        "too long: 312 characters; the X limit is 280.\n"
        "Please add hashtags\n"
        "no call to action: ask a question.\n"
        "style: sentences average 30 words; your samples average 12.\n"
        "Mention our CEO by name."
    )
    assert codes == ["too_long", "missing_hashtags", "no_cta", "style"]
    assert unknown == ["Mention our CEO by name."]


def test_regeneration_applies_feedback_and_changes_the_draft():
    first = write("mastodon", source=SourceMaterial(text=ARTICLE.text), options={"length": "short"})
    feedback = "missing hashtags: 1; Mastodon posts need 1-3.\nno call to action: ask a question."
    second = write(
        "mastodon",
        source=SourceMaterial(text=ARTICLE.text),
        options={"length": "short"},
        previous_drafts=(first.content,),
        feedback=feedback,
    )
    assert second.content != first.content
    assert len(t.hashtags(second.content)) == 3
    assert STOCK_CTA in second.content
    assert second.metadata["applied_feedback"] == ["missing_hashtags", "no_cta"]
    assert second.metadata["unchanged"] is False


def test_too_long_feedback_makes_it_shorter():
    first = write("linkedin", options={"length": "long"})
    second = write(
        "linkedin", options={"length": "long"}, previous_drafts=(first.content,), feedback="This is too long."
    )
    assert len(second.content) < len(first.content)
    assert second.metadata["length"] == "medium"


def test_grammar_feedback_cleans_the_source_sentences():
    source = SourceMaterial(text="the the launch is today!! It is is great (really. We ship now")
    first = write("x", source=source)
    before = score("x", first.content).criteria_scores["grammar"]
    second = write(
        "x", source=source, previous_drafts=(first.content,), feedback=score("x", first.content).feedback
    )
    after = score("x", second.content).criteria_scores["grammar"]
    assert after > before
    assert "the the" not in second.content.lower() and "!!" not in second.content


def test_the_full_loop_raises_the_score():
    first = write("x", source=SourceMaterial(text=ARTICLE.text))
    first_eval = score("x", first.content)
    second = write(
        "x",
        source=SourceMaterial(text=ARTICLE.text),
        previous_drafts=(first.content,),
        feedback=first_eval.feedback,
    )
    assert first_eval.feedback
    assert score("x", second.content).score > first_eval.score


def test_unfixable_feedback_varies_the_selection_or_says_unchanged():
    changed = write("linkedin", previous_drafts=(write("linkedin").content,), feedback="Use our brand voice.")
    assert changed.content != write("linkedin").content
    assert changed.metadata["not_applied"]

    one = SourceMaterial(text="We ship today.")
    base = write("x", source=one, options={"hashtags": False})
    same = write(
        "x", source=one, options={"hashtags": False}, previous_drafts=(base.content,), feedback="Be wittier."
    )
    assert same.content == base.content
    assert same.metadata["unchanged"] is True and same.metadata["unchanged_note"]


# -- the scorer -----------------------------------------------------------------------------------


def test_evaluation_shape_and_weights():
    evaluation = score("x", "We ship today. Read more: https://example.org\n\n#Launch #Release")
    assert set(evaluation.criteria_scores) == set(CRITERIA)
    assert all(0 <= v <= 100 for v in evaluation.criteria_scores.values())
    assert evaluation.evaluator == "builtin-rules-1"
    assert evaluation.metadata["backend"] == "builtin" and evaluation.metadata["rule_based"] is True
    assert evaluation.score == weighted_score(evaluation.criteria_scores)
    assert sum(WEIGHTS.values()) == 100
    assert evaluation.metadata["style_note"].startswith("No style samples")
    assert evaluation.criteria_scores["style_consistency"] == 70


def test_platform_appropriateness_limits():
    ok = "We ship today. Try it now!\n\n#Launch #Release"
    assert score("x", ok).criteria_scores["platform_appropriateness"] == 100
    too_long = "We ship today. " * 30 + "\n\n#Launch #Release"
    result = score("x", too_long)
    assert result.criteria_scores["platform_appropriateness"] <= 50
    assert result.feedback.startswith("too long:")
    assert score("mastodon", too_long).criteria_scores["platform_appropriateness"] == 100
    assert score("mastodon", too_long, char_limit=300).criteria_scores["platform_appropriateness"] < 100
    assert score("x", "").score < 30


def test_bluesky_drafts_are_measured_in_graphemes_and_bytes():
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # one grapheme, five code points
    flag = "\U0001f1fa\U0001f1e6"  # one grapheme, eight bytes
    assert score("bluesky", flag * 300).criteria_scores["platform_appropriateness"] == 100
    over = score("bluesky", flag * 301)
    assert over.criteria_scores["platform_appropriateness"] <= 50
    assert "301 graphemes; the Bluesky limit is 300" in over.feedback
    # 300 graphemes, yet 5,400 bytes: Bluesky refuses more than 3,000.
    heavy = score("bluesky", family * 300)
    assert "5400 bytes in UTF-8; the Bluesky limit is 3000" in heavy.feedback
    # Code points would call 100 families too long for X's 280; graphemes count them as 100.
    assert "too long" not in score("bluesky", family * 100).feedback
    assert "too long" in score("x", family * 100).feedback


def test_bluesky_post_fits_300_graphemes_with_few_hashtags():
    draft = write("bluesky", options={"length": "long"})
    assert draft.metadata["char_limit"] == 300
    assert draft.metadata["characters"] <= 300
    assert 1 <= len(t.hashtags(draft.content)) <= 2


def test_platform_appropriateness_hashtag_counts():
    base = "We ship today. Try it now!"
    assert "missing hashtags" in score("x", base + "\n\n#Launch").feedback
    assert "too many hashtags" in score("x", base + "\n\n#A #B #C #D").feedback
    assert "hashtags" not in score("x", base + "\n\n#A #B").feedback
    assert "too many hashtags" in score("blog", "# T\n\n## A\n\nText.\n\n## B\n\nMore text. #Tag").feedback


def test_linkedin_hook_and_call_to_action_rules():
    wall = "A very long first line that goes on. " * 6
    no_hook = score("linkedin", wall + "\n\nSecond paragraph.\n\n#A #B #C")
    assert "no hook" in no_hook.feedback and "no call to action" in no_hook.feedback
    good = score("linkedin", "Big news.\n\nWe ship today. What do you think?\n\n#A #B #C")
    assert (
        good.criteria_scores["platform_appropriateness"] > no_hook.criteria_scores["platform_appropriateness"]
    )


def test_blog_word_count_and_headings():
    paragraph = "Teams publish drafts on a schedule and review them carefully before they go out. " * 10
    long_blog = "# Title\n\n" + "\n\n".join(f"## Part {i}\n\n{paragraph}" for i in range(7))
    short_blog = "# Title\n\nJust one paragraph."
    assert score("blog", long_blog).criteria_scores["platform_appropriateness"] == 100
    short = score("blog", short_blog)
    assert "too short" in short.feedback and "no headings" in short.feedback
    assert short.criteria_scores["platform_appropriateness"] < 50


def test_clarity_prefers_short_plain_sentences():
    plain = score("x", "We ship today. It is fast. You will like it.").criteria_scores["clarity"]
    dense = score("x", LONG_SENTENCE).criteria_scores["clarity"]
    assert plain > dense
    assert "long sentences" in score("x", LONG_SENTENCE).feedback


def test_engagement_rewards_question_hook_hashtags_and_paragraphs():
    flat = score("mastodon", LONG_SENTENCE).criteria_scores["engagement"]
    engaging = score("mastodon", "Big news today.\n\nWe ship. Will you try it?\n\n#Launch").criteria_scores[
        "engagement"
    ]
    assert engaging > flat
    wall = score("linkedin", ("Teams publish drafts on a schedule. " * 30).strip())
    assert "wall of text" in wall.feedback


def test_grammar_rules_each_cost_points():
    clean = score("x", "We ship today. It works.").criteria_scores["grammar"]
    assert clean == 100
    for bad in (
        "we ship today. It works.",
        "We ship today.\nIt works\nThe end.",
        "We ship the the product.",
        "We ship today!! It works.",
        "We ship (today. It works.",
    ):
        assert score("x", bad).criteria_scores["grammar"] < clean, bad


def test_style_consistency_follows_the_samples():
    samples = (
        "Short posts. Plain words. We ship small tools 🚀",
        "Tools should be boring. We love boring tools 🛠️",
    )
    similar = score("mastodon", "We ship boring tools. Plain and small 🚀", style_samples=samples)
    different = score(
        "mastodon",
        "Notwithstanding considerable organisational complexity, the consortium's multidisciplinary "
        "initiative operationalises heterogeneous infrastructural paradigms comprehensively.",
        style_samples=samples,
    )
    assert similar.criteria_scores["style_consistency"] > different.criteria_scores["style_consistency"]
    assert "style:" in different.feedback
    assert "style_parts" in similar.metadata
