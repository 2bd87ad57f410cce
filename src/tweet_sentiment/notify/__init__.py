"""Step package of the exit handler's ``notify`` task (``components/notify.py`` -> ``step``).

Posts the pipeline's final status to a webhook (the ``webhook_url`` setting, or the
``NOTIFY_WEBHOOK_URL`` environment variable).
Everything else here is free to change.
"""
