"""plan-trials and select-model: the ends of the sweep (a loop of train tasks between them)."""

from kfp import dsl

from components._images import CPU_IMAGE
from components._settings import from_settings


@dsl.component(base_image=CPU_IMAGE, install_kfp_package=False)
@from_settings(run_id="Pipeline job id: a trial's checkpoint directory is named after it.")
def plan_trials(
    run_id: str = "",
    *,
    sweep: str,
    learning_rate: float,
    class_weight_power: float,
    seed: int,
) -> list:
    """One record of train settings per trial of `sweep` (one trial when it is empty); a bad trial
    fails here, before any GPU pod starts."""
    from tweet_sentiment.train.step import plan_trials as plan

    return plan(
        sweep, learning_rate=learning_rate, class_weight_power=class_weight_power, seed=seed, run_id=run_id
    )


@dsl.component(base_image=CPU_IMAGE, install_kfp_package=False)
@from_settings(
    models="Every trial's model (train's Model, collected over the loop).",
    dataset="The preprocessed tweets (preprocess's Dataset): the soup is scored on its selection split.",
    model="Output: the best trial's model, or the model soup when it scored better.",
    metrics="Output: the number of trials, the best trial and its figures, the soup's figures.",
)
def select_model(
    models: dsl.Input[list[dsl.Model]],
    dataset: dsl.Input[dsl.Dataset],
    model: dsl.Output[dsl.Model],
    metrics: dsl.Output[dsl.Metrics],
    *,
    soup_top_k: int,
):
    """Keeps the trial with the best macro-recall (then accuracy) on the selection split; with
    soup_top_k >= 2, the uniform weight average of the top-k trials when it scores better there."""
    from tweet_sentiment.train.step import select_model as select
    from tweet_sentiment.train.step import selection_metrics

    decision = select([m.path for m in models], dataset.path, model.path, soup_top_k=soup_top_k)
    for name, value in selection_metrics(decision).items():
        metrics.log_metric(name, value)
    # The kept trial's training parameters and figures travel on (register records them), with the choice.
    model.metadata.update(models[decision["best_trial"]].metadata)
    model.metadata.update({"kept": decision["kept"], "selection_split": decision["selection_split"]})
