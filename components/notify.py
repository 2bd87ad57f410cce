"""notify: the exit handler step; posts how the run ended to a webhook (runs on the CPU image)."""

from kfp import dsl

from components._images import CPU_IMAGE
from components._settings import from_settings


@dsl.component(base_image=CPU_IMAGE, install_kfp_package=False)
@from_settings(
    status="The run's final status, filled in by the backend (not passed by the pipeline).",
    run_id="Pipeline job id: the retrain check this run recorded in the registry is looked up by it.",
)
def notify(status: dsl.PipelineTaskFinalStatus, run_id: str = "", *, webhook_url: str, registry_uri: str):
    """Posts the run's final state, run id, the task the status is about, its error and the retrain
    check's decision ("trained: ..." / "skipped: ...") as JSON to `webhook_url`, or to
    $NOTIFY_WEBHOOK_URL (on Kubeflow from an optional Kubernetes secret) when it is empty; with
    neither, does nothing. A failing receiver is logged, never fails the run."""
    from tweet_sentiment.notify.step import final_status_message, post_final_status, retrain_summary
    from tweet_sentiment.settings import PIPELINE_NAME

    message = final_status_message(
        state=status.state,
        run=status.pipeline_job_resource_name,
        task=status.pipeline_task_name,
        error_code=status.error_code,
        error_message=status.error_message or "",
        pipeline=PIPELINE_NAME,
        retrain=retrain_summary(registry_uri, run_id),
    )
    print(post_final_status(webhook_url, message))
