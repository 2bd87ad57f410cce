"""Step package of the ``train`` task and of the sweep's ``plan-trials`` / ``select-model`` tasks.

``components/train.py`` -> :func:`step.run_train`; ``components/sweep.py`` -> :func:`step.plan_trials`,
:func:`step.select_model`. Config: ``config.TrainConfig`` (and ``sweep.SweepConfig``).
Reads the Dataset artifact (``core.dataset``); writes the Model artifact: an HF ``save_pretrained``
folder with ``inference_settings.json`` (``model.inference_settings``), TensorBoard events and
``training_summary.json`` (``output.SUMMARY_FILE``); checkpoints under ``<checkpoint_root>/<run id>/train``
(``checkpointing``). select-model writes the kept model and ``selection.json``.

Modules: ``config``, ``setup`` (model, data, optimiser), ``state`` (the checkpoint's one description),
``blocks`` (batches, schedule, class weights), ``loop``, ``reporting``, ``output``, ``checkpointing``,
``distributed`` (DDP, torchrun), ``sweep``, ``step``. Everything else here is free to change.
"""
