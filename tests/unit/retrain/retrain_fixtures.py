"""Hand-made data for the retrain tests: a WordPiece tokenizer with a known vocabulary."""

from __future__ import annotations

from pathlib import Path

WORDS = ["apple", "banana", "cherry", "grape", "lemon", "mango", "olive", "peach", "plum", "melon"]
OTHER_WORDS = ["zebra", "yak", "walrus", "tiger", "shark", "rhino", "puma", "otter", "koala", "lynx"]


def make_tokenizer(tmp_path: Path):
    """A BERT WordPiece tokenizer whose vocabulary is WORDS + OTHER_WORDS: any other word is one [UNK]."""
    from transformers import BertTokenizerFast

    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *OTHER_WORDS]
    tokenizer = BertTokenizerFast(vocab={token: i for i, token in enumerate(tokens)})
    tokenizer.save_pretrained(tmp_path)  # loadable by path, as a model directory's tokenizer is
    return tokenizer
