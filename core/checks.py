"""System checks on the Celery configuration (R7, docs/reliability.md).

With Redis as the broker, a message a worker has taken but not yet acknowledged (tasks are
acknowledged late) goes back to the queue after ``CELERY_VISIBILITY_TIMEOUT``. A message waiting
out a countdown or a retry's back-off is such a message, and so is a task still running: if either
outlasts the timeout, the task runs twice. So countdowns stay at 60 s at most, back-offs below half
the timeout, and time limits below it.

Registered for every ``check`` (not only ``--deploy``): the values are in code and settings, the
same in development as in production, and a mistake is cheaper to catch at ``runserver`` or in CI
than at deploy time. ``check --deploy`` runs it too.
"""

from pathlib import Path

from celery import current_app
from django.apps import apps
from django.conf import settings
from django.core.checks import Error, register

MAX_COUNTDOWN = 60
# What Celery uses for a task with autoretry_for and retry_backoff but no retry_backoff_max.
CELERY_DEFAULT_BACKOFF_MAX = 600


def project_app_names():
    """The portal's own apps (``core``, ``customers``, …), not Django's or a library's."""
    base = Path(settings.BASE_DIR).resolve()
    names = []
    for config in apps.get_app_configs():
        path = Path(config.path).resolve()
        if path.is_relative_to(base) and "site-packages" not in path.parts:
            names.append(config.name)
    return names


def project_tasks():
    """Every registered task of the portal's apps, after the autodiscovery a worker does."""
    # What a worker does at start; not loader.import_default_modules(), whose signal makes
    # Celery's Django fixup run the system checks, this one included, again.
    current_app.autodiscover_tasks(force=True)
    prefixes = tuple(f"{name}." for name in project_app_names())
    return sorted(
        (task for name, task in current_app.tasks.items() if name.startswith(prefixes)),
        key=lambda task: task.name,
    )


@register("celery")
def check_celery_delays(app_configs=None, **kwargs):
    timeout = settings.CELERY_VISIBILITY_TIMEOUT
    errors = []
    for task in project_tasks():
        errors.extend(_task_errors(task, timeout))
    for name, entry in sorted(settings.CELERY_BEAT_SCHEDULE.items()):
        countdown = (entry.get("options") or {}).get("countdown")
        if countdown is not None and countdown > MAX_COUNTDOWN:
            errors.append(
                Error(
                    f"The beat entry {name!r} sends {entry.get('task')} with a countdown of "
                    f"{countdown} s (more than {MAX_COUNTDOWN} s).",
                    hint=(
                        "Drop the countdown and let the schedule decide when it runs: a message "
                        "waiting out a long countdown can be delivered twice."
                    ),
                    obj=f"CELERY_BEAT_SCHEDULE[{name!r}]",
                    id="core.E104",
                )
            )
    for setting in ("CELERY_TASK_SOFT_TIME_LIMIT", "CELERY_TASK_TIME_LIMIT"):
        limit = getattr(settings, setting, None)
        if limit is not None and limit >= timeout:
            errors.append(
                Error(
                    f"{setting} is {limit} s, not below the visibility timeout ({timeout} s).",
                    hint=(
                        "A task still running when the visibility timeout passes is handed to "
                        "another worker. Lower the limit, or split the work into shorter tasks."
                    ),
                    obj=setting,
                    id="core.E105",
                )
            )
    task_limit = getattr(settings, "CELERY_TASK_TIME_LIMIT", None) or 0
    if task_limit >= settings.API_SYNC_MAX_WRITE_SECONDS:
        errors.append(
            Error(
                f"API_SYNC_MAX_WRITE_SECONDS ({settings.API_SYNC_MAX_WRITE_SECONDS} s) is not "
                f"above CELERY_TASK_TIME_LIMIT ({task_limit} s).",
                hint=(
                    "Incremental API reads would stop waiting for a task's write that is still "
                    "in progress, and a PSA could miss it for good. Raise the setting."
                ),
                obj="API_SYNC_MAX_WRITE_SECONDS",
                id="core.E107",
            )
        )
    return errors


def _task_errors(task, timeout):
    errors = []
    delay = task.default_retry_delay
    if delay is not None and delay > MAX_COUNTDOWN:
        errors.append(
            Error(
                f"The task {task.name} retries after {delay} s by default "
                f"(default_retry_delay; more than {MAX_COUNTDOWN} s).",
                hint=(
                    f"Set default_retry_delay to {MAX_COUNTDOWN} s or less; for a longer wait, "
                    "store when to try again in the database and let a beat sweep pick it up."
                ),
                obj=task.name,
                id="core.E101",
            )
        )
    backoff_max = _retry_backoff_max(task)
    if backoff_max is not None and backoff_max >= timeout / 2:
        errors.append(
            Error(
                f"The task {task.name} backs off up to {backoff_max} s (retry_backoff_max), not "
                f"below half the visibility timeout ({timeout} s).",
                hint=f"Set retry_backoff_max below {timeout // 2} s.",
                obj=task.name,
                id="core.E102",
            )
        )
    countdown = (getattr(task, "retry_kwargs", None) or {}).get("countdown")
    if countdown is not None and countdown > MAX_COUNTDOWN:
        errors.append(
            Error(
                f"The task {task.name} retries with a countdown of {countdown} s "
                f"(retry_kwargs; more than {MAX_COUNTDOWN} s).",
                hint=f"Use a countdown of {MAX_COUNTDOWN} s or less.",
                obj=task.name,
                id="core.E103",
            )
        )
    for attribute in ("soft_time_limit", "time_limit"):
        limit = getattr(task, attribute, None)
        # Tasks carry the settings' limits too: those are core.E105, reported once.
        if limit == task.app.conf.get(f"task_{attribute}"):
            continue
        if limit is not None and limit >= timeout:
            errors.append(
                Error(
                    f"The task {task.name} has a {attribute} of {limit} s, not below the "
                    f"visibility timeout ({timeout} s).",
                    hint="Lower it, or split the work into shorter tasks.",
                    obj=task.name,
                    id="core.E106",
                )
            )
    return errors


def _retry_backoff_max(task):
    """The longest back-off the task can wait, or None when it does not back off."""
    explicit = getattr(task, "retry_backoff_max", None)
    if explicit is not None:
        return explicit
    if getattr(task, "autoretry_for", None) and getattr(task, "retry_backoff", False):
        return CELERY_DEFAULT_BACKOFF_MAX
    return None
