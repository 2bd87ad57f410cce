"""check-settings: every pipeline setting checked on the cluster before the train loop starts."""

from kfp import dsl

from components._images import CPU_IMAGE
from components._settings import from_settings


@dsl.component(base_image=CPU_IMAGE, install_kfp_package=False)
@from_settings()
def check_settings(
    *,
    registry_uri: str,
    data_source: str,
    hub_config: str,
    eval_split: str,
    max_text_chars: int,
    max_bad_fraction: float,
    dev_fraction: float,
    model_name: str,
    epochs: float,
    min_steps: int,
    learning_rate: float,
    force_learning_rate: bool,
    class_weight_power: float,
    batch_size: int,
    max_length: int,
    seed: int,
    precision: str,
    num_gpus: int,
    validation_split: str,
    eval_every_steps: int,
    checkpoint_root: str,
    checkpoint_every_steps: int,
    sweep: str,
    soup_top_k: int,
    min_accuracy: float,
    min_macro_recall: float,
    max_regression: float,
    onnx_max_accuracy_drop_points: float,
    batch_predict_source: str,
    batch_predict_model: str,
    mlflow_tracking_uri: str,
    mlflow_model_name: str,
    vertex_model: str,
    vertex_serving_image: str,
    webhook_url: str,
    retrain_policy: str,
    max_champion_age_days: float,
    decay_metric: str,
    max_decay: float,
    max_label_drift: float,
    max_length_drift: float,
    max_text_drift_auc: float,
    max_prediction_drift: float,
    max_unknown_rate_increase: float,
    max_new_word_rate_increase: float,
):
    """Refuses the run, naming each bad parameter, its value and the allowed range, when any setting
    is out of its declared range (a value typed into the KFP or Vertex AI UI included), a sweep trial
    is not a valid training config, the learning rate is above the ceiling, a mirror cannot work with
    the registry or the registry directory is not writable here. Takes every pipeline parameter; the
    plan-trials task, and so every train task, waits for it."""
    parameters = dict(locals())  # every pipeline parameter, by name
    from tweet_sentiment.preflight.step import check_on_cluster

    check_on_cluster(parameters)
