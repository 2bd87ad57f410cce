"""The TweetEval rules (core/text.py): what they do, what they leave literal, and that they are idempotent."""

import pytest

from tests.fakes.raw_tweets import make_raw_tweets
from tweet_sentiment.core.text import DECODED_ESCAPES, UnencodableText, normalize_tweet


def test_mentions_become_user_and_urls_are_dropped():
    text = "@DeltaAssist my bag is lost again https://t.co/AbC123 thanks @jess_92!"
    assert normalize_tweet(text) == "@user my bag is lost again thanks @user!"


def test_www_urls_and_whitespace():
    assert normalize_tweet("  see www.example.com/x   now\n") == "see now"
    assert normalize_tweet("HTTPS://EXAMPLE.COM/UP loud") == "loud"


def test_literal_unicode_escapes_are_decoded():
    # TweetEval's files carry JSON escapes as literal text, e.g. I\u2019m and \u002c.
    assert normalize_tweet("I\\u2019m here\\u002c ok") == "I\u2019m here, ok"
    assert normalize_tweet("\\u00C9t\\u00e9 \\u20ac5") == "\u00c9t\u00e9 \u20ac5"


def test_escapes_outside_the_table_and_html_entities_stay_literal():
    # Surrogate halves (an emoji), a letter, a backslash (it could complete a new escape), entities.
    literal = "\\ud83d\\ude02 \\u0041 \\u005cu2019 &amp; &lt;3"
    assert normalize_tweet(literal) == literal


def test_email_like_at_is_not_a_mention():
    assert normalize_tweet("mail me at bob@example.org") == "mail me at bob@example.org"


def test_mentions_in_any_script_and_of_any_length():
    assert normalize_tweet("@नमस्ते hi @ÜberFan @" + "x" * 60) == "@user hi @user @user"


def test_only_url_normalises_to_empty():
    assert normalize_tweet("https://t.co/xyz") == ""


def test_no_decoded_escape_can_complete_another_escape():
    assert not {chr(c) for c in DECODED_ESCAPES} & set("\\u0123456789abcdefABCDEF")


def test_normalising_twice_gives_what_normalising_once_gives():
    """So a model's tokenizer may normalise text that preprocess already normalised."""
    tricky = [
        "\\u005cu2019",
        "\\u\\u0032019",
        "@" + "a" * 70,
        "@a@b",
        "http:\\u002f\\u002fx.com y",
        "\\u0040x",
    ]
    for text in make_raw_tweets(320) + tricky:
        once = normalize_tweet(text)
        assert normalize_tweet(once) == once, text


def test_a_lone_surrogate_is_refused_with_a_clear_error():
    with pytest.raises(UnencodableText, match="lone UTF-16 surrogate"):
        normalize_tweet("bad \ud83d text")


def test_check_text_names_a_lone_surrogate_as_the_rows_problem():
    from tweet_sentiment.core.text import check_text

    assert check_text("bad \ud83d text") == (
        None,
        "text holds a lone UTF-16 surrogate and is not valid Unicode text",
    )
    assert check_text("@someone fine") == ("@someone fine", None)
