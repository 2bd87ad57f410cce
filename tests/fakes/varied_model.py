"""A tiny random BERT whose labels vary over tweets, saved as training saves a model (the TweetEval
rules in its tokenizer.json), for the tests that compare ways of loading one model."""

from __future__ import annotations

from pathlib import Path

MAX_LENGTH = 128


def save_varied_model(out: Path, base_tokenizer) -> Path:
    """2 layers of width 32; a wide initialisation (0.5) so all three labels occur on varied text."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from tweet_sentiment.core.labels import ID2LABEL, LABEL2ID
    from tweet_sentiment.model.inference_settings import InferenceSettings, write_inference_settings
    from tweet_sentiment.model.tokenizer import save_tokenizer

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=base_tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=MAX_LENGTH,
        num_labels=3,
        id2label=ID2LABEL,
        label2id=LABEL2ID,
        initializer_range=0.5,
    )
    BertForSequenceClassification(config).save_pretrained(out, safe_serialization=True)
    save_tokenizer(base_tokenizer, out, max_length=MAX_LENGTH)
    write_inference_settings(out, InferenceSettings(max_length=MAX_LENGTH))
    return out


def reference_probabilities(model_dir: Path, base_tokenizer, tweets: list[str]):
    """What evaluation measures: the model on normalised text, through the original tokenizer."""
    from tweet_sentiment.core.text import normalize_tweet
    from tweet_sentiment.model.inference import predict_probabilities
    from tweet_sentiment.model.loading import load_classifier

    model = load_classifier(str(model_dir), fresh_head=False)
    texts = [normalize_tweet(t) for t in tweets]
    return predict_probabilities(model, base_tokenizer, texts, precision="fp32", max_length=MAX_LENGTH)
