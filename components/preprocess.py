"""preprocess: read, validate and normalise tweets into a Dataset artifact."""

from kfp import dsl

from components._images import CPU_IMAGE
from components._settings import from_settings


@dsl.component(base_image=CPU_IMAGE, install_kfp_package=False)
@from_settings(dataset="Output: the validated, normalised splits, quarantined rows and their statistics.")
def preprocess(
    dataset: dsl.Output[dsl.Dataset],
    *,
    data_source: str,
    hub_config: str,
    eval_split: str,
    max_text_chars: int,
    max_bad_fraction: float,
    dev_fraction: float,
):
    """Validates `data_source` (hub id, local path, gs:// prefix or `<prefix>/latest`); bad rows are
    quarantined within a budget. The train split and `eval_split` must be present. Without a validation
    split besides `eval_split`, a `dev` split of `dev_fraction` of train is carved for model choices."""
    from tweet_sentiment.preprocess.step import run_preprocess

    dataset.metadata.update(
        run_preprocess(
            data_source,
            dataset.path,
            hub_config=hub_config,
            eval_split=eval_split,
            max_text_chars=max_text_chars,
            max_bad_fraction=max_bad_fraction,
            dev_fraction=dev_fraction,
        )
    )
