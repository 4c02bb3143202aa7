"""The Celery system checks (R7, docs/reliability.md): no countdown, back-off or time limit that could
outlast the broker's visibility timeout and have a task delivered twice."""

from contextlib import contextmanager

import pytest
from django.core.checks import run_checks

from core.checks import check_celery_delays, project_tasks
from partnerportal.celery import app


def ids(errors):
    return sorted(error.id for error in errors)


@contextmanager
def throwaway_task(name, **options):
    """A task registered on the portal's app for one test, then removed."""

    def run():
        return None

    task = app.task(name=name, **options)(run)
    try:
        yield task
    finally:
        app.tasks.unregister(name)


def test_the_project_passes():
    assert check_celery_delays() == []
    # Registered: part of every `check`, `check --deploy` included.
    assert [e for e in run_checks(tags=["celery"]) if e.id.startswith("core.")] == []
    assert [
        e for e in run_checks(include_deployment_checks=True) if e.id.startswith("core.E1")
    ] == []


def test_every_task_of_the_portal_is_inspected():
    names = {task.name for task in project_tasks()}
    assert {
        "core.tasks.heartbeat",
        "customers.tasks.sync_gdap",
        "servicehealth.tasks.poll_source",
        "servicerequests.tasks.deliver",
        "integrations.tasks.deliver",
    } <= names
    assert not any(name.startswith("celery.") for name in names)
    # Celery's own default (180 s) is lowered for every task of the portal.
    assert {task.default_retry_delay for task in project_tasks()} == {30}


def test_a_long_default_retry_delay_is_an_error():
    with throwaway_task("core.tasks.test_slow_retry", default_retry_delay=120):
        errors = check_celery_delays()
        assert ids(errors) == ["core.E101"]
        assert errors[0].obj == "core.tasks.test_slow_retry"
        assert "120 s" in errors[0].msg
        assert errors[0].hint
        assert "core.E101" in ids(run_checks(tags=["celery"]))
    assert check_celery_delays() == []


def test_a_task_of_another_package_is_not_inspected():
    with throwaway_task("somelibrary.tasks.slow", default_retry_delay=120):
        assert check_celery_delays() == []


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        # Celery's own retry_backoff_max (600 s) is past half of 15 minutes.
        ({"autoretry_for": (ConnectionError,), "retry_backoff": True}, ["core.E102"]),
        (
            {"autoretry_for": (ConnectionError,), "retry_backoff": True, "retry_backoff_max": 450},
            ["core.E102"],
        ),
        (
            {"autoretry_for": (ConnectionError,), "retry_backoff": True, "retry_backoff_max": 449},
            [],
        ),
        ({"autoretry_for": (ConnectionError,), "retry_kwargs": {"countdown": 61}}, ["core.E103"]),
        ({"autoretry_for": (ConnectionError,), "retry_kwargs": {"countdown": 60}}, []),
        ({"default_retry_delay": 60}, []),
        ({"time_limit": 15 * 60}, ["core.E106"]),
        ({"soft_time_limit": 15 * 60 - 1}, []),
    ],
)
def test_task_options(options, expected):
    with throwaway_task("servicerequests.tasks.test_options", **options):
        assert ids(check_celery_delays()) == expected


def test_a_beat_entry_with_a_long_countdown_is_an_error(settings):
    settings.CELERY_BEAT_SCHEDULE = {
        **settings.CELERY_BEAT_SCHEDULE,
        "late-sweep": {
            "task": "servicerequests.tasks.sweep_deliveries",
            "schedule": 60,
            "options": {"countdown": 120},
        },
        "short-countdown": {
            "task": "servicerequests.tasks.sweep_deliveries",
            "schedule": 60,
            "options": {"countdown": 60},
        },
    }
    errors = check_celery_delays()
    assert ids(errors) == ["core.E104"]
    assert "late-sweep" in errors[0].obj
    assert "120 s" in errors[0].msg


def test_time_limits_must_stay_below_the_visibility_timeout(settings):
    settings.CELERY_TASK_TIME_LIMIT = settings.CELERY_VISIBILITY_TIMEOUT
    assert ids(check_celery_delays()) == ["core.E105"]
    settings.CELERY_TASK_SOFT_TIME_LIMIT = settings.CELERY_VISIBILITY_TIMEOUT + 60
    assert ids(check_celery_delays()) == ["core.E105", "core.E105"]


def test_the_limits_follow_the_visibility_timeout(settings):
    settings.CELERY_VISIBILITY_TIMEOUT = settings.CELERY_TASK_TIME_LIMIT
    # Tasks with longer limits of their own (the customer sync) are reported beside it.
    errors = check_celery_delays()
    assert "core.E105" in ids(errors)
    assert set(ids(errors)) <= {"core.E105", "core.E106"}
    settings.CELERY_VISIBILITY_TIMEOUT = 25 * 60
    options = {"autoretry_for": (ConnectionError,), "retry_backoff": True}
    # Celery's own retry_backoff_max (600 s) is below half of 25 minutes.
    with throwaway_task("integrations.tasks.test_backoff", **options):
        assert check_celery_delays() == []


def test_incremental_reads_must_wait_for_writes_as_long_as_a_task_can_run(settings):
    settings.API_SYNC_MAX_WRITE_SECONDS = settings.CELERY_TASK_TIME_LIMIT
    errors = check_celery_delays()
    assert ids(errors) == ["core.E107"]
    assert errors[0].obj == "API_SYNC_MAX_WRITE_SECONDS"
