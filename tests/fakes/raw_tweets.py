"""Raw tweets as they arrive before any normalisation, generated deterministically for the tests.

Each tweet mixes sentiment words (so a model's labels vary) with what the normaliser must handle:
mentions (ASCII, accented, Devanagari, overlong, e-mail look-alikes), URLs with and without a
scheme, literal ``\\uXXXX`` escapes (decoded ones, surrogate halves, ones that stay literal), HTML
entities, emoji (with skin tones, flags, ZWJ sequences), runs of spaces, tabs, newlines and other
Unicode spaces, and non-Latin scripts.
"""

from __future__ import annotations

import random

WORDS = {
    "negative": ["awful", "terrible", "hate", "worst", "broken", "angry", "lost my bag", "never again"],
    "neutral": ["scheduled", "announced", "located", "listed", "released", "updated", "opens", "Monday"],
    "positive": ["great", "love", "amazing", "best", "awesome", "happy", "thanks so much", "wonderful"],
}
MENTIONS = [
    "@united", "@jess_92", "@Delta", "@ÜberFan", "@नमस्ते", "@" + "x" * 60, "bob@example.org",
    "@@double", "@_", "RT @news_bot:", "(@someone)", "@user",
]  # fmt: skip
URLS = [
    "https://t.co/Xy12", "http://bit.ly/abc?x=1&y=2", "www.example.com/path", "HTTP://EXAMPLE.COM/UP",
    "t.co/noscheme", "example.org", "https://t.co/a\\u002cb", "Www.Shout.com",
]  # fmt: skip
ESCAPES = [
    "I\\u2019m", "yes\\u002c no", "caf\\u00e9", "CAF\\u00C9", "wait\\u2026", "\\ud83d\\ude02",
    "\\u005cu2019", "\\u0041BC", "\\u20ac5", "\\u201Cquoted\\u201d", "\\u0040handle", "\\u00a0gap",
    "\\u0zzz", "\\U0001F600",
]  # fmt: skip
HTML = ["&amp;", "&lt;3", "&gt;:(", "&quot;hi&quot;", "&#39;", "AT&amp;T"]
EMOJI = ["😂", "👍🏽", "❤️", "🇺🇸", "👨‍👩‍👧", "🔥🔥🔥", ":)", ":-("]
SPACES = ["  ", "\t", "\n", "\u00a0", "\u3000", "\u2003", "   \n  ", " \u200b "]
SCRIPTS = [
    "Привет мир",
    "こんにちは",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "你好",
    "안녕하세요",
    "Γειά σου",
    "שלום",
]
TOPICS = ["the flight", "my phone", "this movie", "the new album", "the game", "lunch", "the update"]

_PARTS = (MENTIONS, URLS, ESCAPES, HTML, EMOJI, SCRIPTS, TOPICS)


def make_raw_tweets(count: int, seed: int = 0) -> list[str]:
    """``count`` distinct raw tweets; the first ones cover every listed piece at least once."""
    rng = random.Random(seed)
    tweets: list[str] = []
    pieces = [piece for group in _PARTS for piece in group]
    while len(tweets) < count:
        i = len(tweets)
        words = WORDS[("negative", "neutral", "positive")[i % 3]]
        chosen = [rng.choice(words), rng.choice(words)]
        if i < len(pieces):
            chosen.append(pieces[i])
        chosen += rng.sample(pieces, rng.randint(1, 5))
        rng.shuffle(chosen)
        text = ""
        for piece in chosen:
            text += piece + rng.choice([" ", " ", " ", *SPACES, ""])
        if rng.random() < 0.3:
            text = rng.choice(SPACES) + text
        tweet = text + f" #{seed}x{i}"
        if tweet not in tweets:
            tweets.append(tweet)
    return tweets
