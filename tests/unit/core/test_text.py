from tweet_sentiment.core.text import normalize_tweet


def test_mentions_become_user_and_urls_are_dropped():
    text = "@DeltaAssist my bag is lost again https://t.co/AbC123 thanks @jess_92!"
    assert normalize_tweet(text) == "@user my bag is lost again thanks @user!"


def test_www_urls_and_whitespace():
    assert normalize_tweet("  see www.example.com/x   now\n") == "see now"


def test_literal_unicode_escapes_are_decoded():
    # TweetEval's files carry JSON escapes as literal text, e.g. I\u2019m and \u002c.
    assert normalize_tweet("I\\u2019m here\\u002c ok") == "I\u2019m here, ok"


def test_email_like_at_is_not_a_mention():
    assert normalize_tweet("mail me at bob@example.org") == "mail me at bob@example.org"


def test_only_url_normalises_to_empty():
    assert normalize_tweet("https://t.co/xyz") == ""
