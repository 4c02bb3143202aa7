"""Retention: old webhook deliveries and events are deleted, old import files erased, in batches.

Never purged: waiting or sending deliveries, events a delivery still refers to or not yet fanned
out, service-request history and the audit log.
"""

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from core.models import AuditEntry, Event, EventTypeChoices
from customers.models import CustomerImport, CustomerImportStatusChoices
from integrations import retention
from integrations.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryStateChoices,
    WebhookSubscription,
    new_webhook_secret,
)
from integrations.tasks import purge_old_history
from partnerportal.celery import app
from servicerequests.models import Delivery, DeliveryAttempt

State = WebhookDeliveryStateChoices
NOTHING = {
    retention.WEBHOOK_DELIVERIES: 0,
    retention.WEBHOOK_ATTEMPTS: 0,
    retention.EVENTS: 0,
    retention.IMPORT_FILES: 0,
}


def days_ago(days):
    return timezone.now() - timedelta(days=days)


@pytest.fixture
def subscription(db):
    subscription = WebhookSubscription(
        name=f"PSA {uuid.uuid4().hex[:6]}",
        target_url="https://psa.example/hooks",
        event_types=list(EventTypeChoices.values),
    )
    subscription.secret = new_webhook_secret()
    subscription.save()
    return subscription


def make_event(age_days=0, fanned_out=True):
    occurred = days_ago(age_days)
    return Event.objects.create(
        type=EventTypeChoices.INCIDENT_CREATED,
        occurred_at=occurred,
        object_type="incident",
        object_id="EX100001",
        consolidation_key=f"incident:EX100001:{uuid.uuid4()}",
        summary="EX100001: mail delays",
        fanned_out_at=occurred if fanned_out else None,
    )


def make_delivery(subscription, state=State.DELIVERED, age_days=0, event=None, attempts=1):
    delivery = WebhookDelivery.objects.create(
        subscription=subscription,
        event=event,
        event_type=EventTypeChoices.INCIDENT_CREATED,
        payload={"type": "incident.created", "data": {"summary": "x" * 200}},
        state=state,
        attempts=attempts,
    )
    for number in range(1, attempts + 1):
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=number,
            started_at=timezone.now(),
            duration_ms=12,
            status_code=200,
            outcome=WebhookAttempt.Outcome.SUCCESS,
        )
    # auto_now fields: backdate with an UPDATE, as the rows would look after that many days.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        created_at=days_ago(age_days), modified_at=days_ago(age_days)
    )
    return delivery


def make_import(status=CustomerImportStatusChoices.SUCCEEDED, age_days=0, errors=()):
    job = CustomerImport.objects.create(
        file_name="customers.csv",
        csv_text="tenant_id,company_name\n1,Contoso\n",
        status=status,
        errors=list(errors),
        total_rows=1,
        processed_rows=1,
        finished_at=days_ago(age_days) if status in retention.FINISHED_IMPORTS else None,
    )
    CustomerImport.objects.filter(pk=job.pk).update(created_at=days_ago(age_days))
    return job


def ids(queryset):
    return set(queryset.values_list("pk", flat=True))


# --- webhook deliveries ---------------------------------------------------------------------


def test_final_deliveries_past_the_window_go_with_their_attempts(subscription, settings):
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 30
    old_delivered = make_delivery(subscription, State.DELIVERED, age_days=31, attempts=2)
    old_failed = make_delivery(subscription, State.FAILED, age_days=45, attempts=3)
    recent = make_delivery(subscription, State.DELIVERED, age_days=29)
    old_pending = make_delivery(subscription, State.PENDING, age_days=60)
    old_sending = make_delivery(subscription, State.SENDING, age_days=60)

    counts, finished = retention.purge()

    assert finished is True
    assert counts[retention.WEBHOOK_DELIVERIES] == 2
    assert counts[retention.WEBHOOK_ATTEMPTS] == 5
    assert ids(WebhookDelivery.objects) == {recent.pk, old_pending.pk, old_sending.pk}
    assert not WebhookAttempt.objects.filter(delivery_id__in=[old_delivered.pk, old_failed.pk])
    assert WebhookAttempt.objects.filter(delivery=old_pending).count() == 1


def test_deliveries_are_kept_by_their_last_change_not_their_creation(subscription, settings):
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 30
    # Created long ago, delivered (or redelivered by an admin) yesterday: its log stays.
    delivery = make_delivery(subscription, State.DELIVERED, age_days=60)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(modified_at=days_ago(1))

    counts, _finished = retention.purge()

    assert counts[retention.WEBHOOK_DELIVERIES] == 0
    assert WebhookDelivery.objects.filter(pk=delivery.pk).exists()


# --- events ---------------------------------------------------------------------------------


def test_old_fanned_out_events_go_unless_a_delivery_refers_to_them(subscription, settings):
    settings.EVENT_RETENTION_DAYS = 90
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 30
    unreferenced = make_event(age_days=91)
    still_waiting = make_event(age_days=91)
    make_delivery(subscription, State.PENDING, age_days=91, event=still_waiting)
    # Its delivery is past its own window, so this run deletes both: deliveries go first.
    freed = make_event(age_days=100)
    make_delivery(subscription, State.DELIVERED, age_days=100, event=freed)
    not_fanned_out = make_event(age_days=200, fanned_out=False)
    recent = make_event(age_days=89)

    counts, finished = retention.purge()

    assert finished is True
    assert counts[retention.EVENTS] == 2
    assert ids(Event.objects) == {still_waiting.pk, not_fanned_out.pk, recent.pk}
    assert not Event.objects.filter(pk__in=[unreferenced.pk, freed.pk]).exists()


def test_an_event_outlives_its_window_while_a_retained_delivery_refers_to_it(
    subscription, settings
):
    settings.EVENT_RETENTION_DAYS = 7
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 30
    event = make_event(age_days=20)
    make_delivery(subscription, State.DELIVERED, age_days=20, event=event)

    counts, _finished = retention.purge()

    assert counts == NOTHING
    assert Event.objects.filter(pk=event.pk).exists()


# --- customer imports -----------------------------------------------------------------------


def test_old_finished_imports_lose_their_file_but_keep_their_page(client_for, settings):
    settings.CUSTOMER_IMPORT_RETENTION_DAYS = 30
    error = {"line": 2, "column": "country", "message": "Unknown country code."}
    old_failed = make_import(CustomerImportStatusChoices.FAILED, age_days=31, errors=[error])
    old_succeeded = make_import(CustomerImportStatusChoices.SUCCEEDED, age_days=40)
    recent = make_import(CustomerImportStatusChoices.SUCCEEDED, age_days=29)
    unfinished = make_import(CustomerImportStatusChoices.PENDING, age_days=40)

    counts, _finished = retention.purge()

    assert counts[retention.IMPORT_FILES] == 2
    old_failed.refresh_from_db()
    assert old_failed.csv_text == ""
    assert old_failed.errors == [error]
    assert old_failed.status == CustomerImportStatusChoices.FAILED
    old_succeeded.refresh_from_db()
    assert old_succeeded.csv_text == ""
    assert old_succeeded.imported_count == 0 and old_succeeded.total_rows == 1
    for kept in (recent, unfinished):
        kept.refresh_from_db()
        assert kept.csv_text.startswith("tenant_id")
    page = client_for("admin_agent").get(reverse("customers:import_detail", args=[old_failed.pk]))
    assert page.status_code == 200
    assert "Unknown country code." in page.content.decode()


# --- what is never touched ------------------------------------------------------------------


def test_the_audit_log_and_service_request_history_are_never_purged(subscription, cast):
    entry = AuditEntry.objects.create(action="webhook.redelivered", target_type="x", target_id="1")
    # Backdated with SQL: the app itself cannot rewrite an audit entry.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE core_auditentry SET created_at = %s WHERE id = %s",
            [days_ago(3650), entry.pk],
        )
    audit_before = AuditEntry.objects.count()
    requests_before = (Delivery.objects.count(), DeliveryAttempt.objects.count())
    make_delivery(subscription, State.DELIVERED, age_days=400)
    make_event(age_days=400)

    counts, _finished = retention.purge()

    assert counts[retention.WEBHOOK_DELIVERIES] == 1 and counts[retention.EVENTS] == 1
    assert AuditEntry.objects.count() == audit_before
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
    assert (Delivery.objects.count(), DeliveryAttempt.objects.count()) == requests_before


def test_a_run_with_nothing_to_do_deletes_nothing(subscription, django_assert_max_num_queries):
    make_delivery(subscription, State.DELIVERED, age_days=1)
    make_delivery(subscription, State.PENDING, age_days=400)
    make_event(age_days=1)
    make_event(age_days=400, fanned_out=False)
    make_import(CustomerImportStatusChoices.SUCCEEDED, age_days=1)
    before = (
        WebhookDelivery.objects.count(),
        WebhookAttempt.objects.count(),
        Event.objects.count(),
    )

    # One look per table (with its transaction), nothing more.
    with django_assert_max_num_queries(9):
        counts, finished = retention.purge()

    assert counts == NOTHING and finished is True
    after = (WebhookDelivery.objects.count(), WebhookAttempt.objects.count(), Event.objects.count())
    assert after == before


# --- batches --------------------------------------------------------------------------------


def test_many_rows_take_a_bounded_number_of_queries(
    subscription, monkeypatch, django_assert_max_num_queries
):
    monkeypatch.setattr(retention, "BATCH_SIZE", 50)
    old = days_ago(400)
    events = Event.objects.bulk_create(
        Event(
            type=EventTypeChoices.INCIDENT_UPDATED,
            occurred_at=old,
            fanned_out_at=old,
            object_type="incident",
            object_id="EX1",
            consolidation_key=f"incident:EX1:{n}",
            summary="update",
        )
        for n in range(300)
    )
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            subscription=subscription,
            event=event,
            event_type=event.type,
            payload={"n": n},
            state=State.DELIVERED,
        )
        for n, event in enumerate(events)
    )
    WebhookAttempt.objects.bulk_create(
        WebhookAttempt(
            delivery=delivery,
            number=1,
            started_at=old,
            duration_ms=5,
            outcome=WebhookAttempt.Outcome.SUCCESS,
        )
        for delivery in deliveries
    )
    WebhookDelivery.objects.update(created_at=old, modified_at=old)

    # 300 rows in batches of 50: a handful of statements per batch, never one per row.
    with django_assert_max_num_queries(100):
        counts, finished = retention.purge()

    assert finished is True
    assert counts[retention.WEBHOOK_DELIVERIES] == 300
    assert counts[retention.WEBHOOK_ATTEMPTS] == 300
    assert counts[retention.EVENTS] == 300
    assert not WebhookDelivery.objects.exists() and not Event.objects.exists()


def test_a_run_out_of_time_keeps_what_it_committed_and_the_next_does_the_rest(subscription):
    for _ in range(5):
        make_delivery(subscription, State.DELIVERED, age_days=400)

    # No time at all: one batch per run, each committed on its own.
    counts, finished = retention.purge(batch=2, time_budget=0)
    assert finished is False
    assert counts[retention.WEBHOOK_DELIVERIES] == 2
    assert WebhookDelivery.objects.count() == 3

    counts, finished = retention.purge(batch=2)
    assert finished is True
    assert counts[retention.WEBHOOK_DELIVERIES] == 3
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_share_the_work(subscription):
    old = days_ago(400)
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            subscription=subscription, event_type="incident.created", payload={}, state="delivered"
        )
        for _ in range(300)
    )
    WebhookDelivery.objects.update(created_at=old, modified_at=old)
    results, errors = [], []

    def run():
        try:
            results.append(retention.purge(batch=20))
        except Exception as exc:  # reported below: the assertion names it
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    # Each row deleted exactly once between them (SKIP LOCKED), none left.
    assert sum(counts[retention.WEBHOOK_DELIVERIES] for counts, _ in results) == 300
    assert not WebhookDelivery.objects.exists()


# --- the task and its schedule --------------------------------------------------------------


def test_the_task_runs_the_purge(subscription):
    make_delivery(subscription, State.FAILED, age_days=400, attempts=2)

    counts = purge_old_history.apply().get()

    assert counts[retention.WEBHOOK_DELIVERIES] == 1
    assert counts[retention.WEBHOOK_ATTEMPTS] == 2
    assert not WebhookDelivery.objects.exists()


def test_beat_runs_it_daily_on_an_existing_queue(settings):
    app.autodiscover_tasks(force=True)
    entry = settings.CELERY_BEAT_SCHEDULE["purge-old-history"]
    assert entry["task"] == "integrations.tasks.purge_old_history"
    assert entry["task"] in app.tasks
    queue = app.amqp.router.route(entry.get("options", {}), entry["task"])["queue"].name
    assert queue == "webhooks"
    assert queue in settings.CELERY_TASK_QUEUES_NAMES
    # Once a day: a crontab with a single hour and minute.
    schedule = entry["schedule"]
    assert len(schedule.hour) == 1 and len(schedule.minute) == 1


def test_the_events_page_says_how_long_history_is_kept(client_for, settings):
    settings.EVENT_RETENTION_DAYS = 120
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 45
    page = client_for("helpdesk_agent").get(reverse("dashboard:events")).content.decode()
    assert "Events are kept for 120 days" in page
    assert "webhook delivery logs for 45 days" in page
