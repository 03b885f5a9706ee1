"""The Celery app, in the shape of Celery's "First steps with Django" guide."""

import os

from celery import Celery, signals

# Whether the settings module is a caller's choice or the default set here: importing the
# config package sets it, so ``python -m config.services`` hands a command only the
# caller's (a default passed on would override pytest's own, config.settings.test).
SETTINGS_FROM_ENVIRONMENT = "DJANGO_SETTINGS_MODULE" in os.environ
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("likefeed")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_prerun.connect
@signals.task_postrun.connect
def _connections_back_to_the_pool(**_: object) -> None:
    """What Django does at each request's start and end: a connection that is broken or
    past its age (CONN_MAX_AGE = 0: at once) goes back to the pool. Celery's own fix-up
    would close the pool itself around every task (settings.CELERY_DB_REUSE_MAX)."""
    from django.db import close_old_connections

    close_old_connections()


def queue_backlog(*queues: str) -> int:
    """Messages waiting in these broker queues (Redis or RabbitMQ); a queue that does not
    exist yet (Redis deletes an empty list) counts 0. Messages a worker already holds are not
    counted: they are not waiting."""
    waiting = 0
    with app.connection_for_read() as connection:
        for queue in queues:
            channel = connection.channel()  # a failed passive declare closes it (AMQP)
            try:
                waiting += channel.queue_declare(queue=queue, passive=True).message_count
            except connection.channel_errors:
                pass
            finally:
                channel.close()
    return waiting
