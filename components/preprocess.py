"""preprocess: read, validate and normalise tweets into a Dataset artifact."""

from kfp import dsl

from components._images import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE, install_kfp_package=False)
def preprocess(
    source: str,
    dataset: dsl.Output[dsl.Dataset],
    hub_config: str = "sentiment",
    eval_split: str = "test",
    max_text_chars: int = 1000,
    max_bad_fraction: float = 0.01,
):
    """Validates `source` (hub id, local path or gs:// prefix); bad rows are quarantined within a budget."""
    from tweet_sentiment.steps import run_preprocess

    dataset.metadata.update(
        run_preprocess(
            source,
            dataset.path,
            hub_config=hub_config,
            eval_split=eval_split,
            max_text_chars=max_text_chars,
            max_bad_fraction=max_bad_fraction,
        )
    )
