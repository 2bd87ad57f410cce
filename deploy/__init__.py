"""Running the pipeline where users run it: container images, Kubeflow / Vertex AI submission, schedules.

Authoring-side code only (docker SDK, kfp client, google-cloud-aiplatform); the components never
import it. Credentials come only from the environment: the kfp client's own configuration
(``KF_PIPELINES_*`` variables, kube context, IAP) and Google Application Default Credentials.
"""
