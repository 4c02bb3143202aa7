"""A poll of one feed source: claim it, read its feed, write what was learned in one transaction.

Nothing is written when the read fails (the error is recorded on the source and shown); a re-poll
that learns nothing writes no data; a poll the database went away from is recorded as failed once
it is back (PollInterrupted, record_interrupted). Writes are bulk statements, so the number of
queries does not grow with the number of incidents or posts. Events (incident created/updated/
resolved, feed failing) are written in the same transaction as the change they report.
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from core import broker, events, leases
from core.models import EventTypeChoices
from incidents.models import REPORTED_FIELDS, AffectedCustomer, Incident, IncidentPost
from outbound.graph import GraphError
from servicehealth import cycles, feeds
from servicehealth.models import FeedSource, Service, TenantServiceHealth, TenantServiceHealthChange

logger = logging.getLogger(__name__)

# A worker holds a source this long at most; a poll ends well before (feeds.POLL_DEADLINE_SECONDS).
LEASE = timedelta(minutes=5)
# What the Feeds page shows for a poll that ended without recording how it went: the database
# went away (or the worker died) between the claim and the outcome. Its data was written in one
# transaction with the success, so nothing it read was written.
INTERRUPTED = "The previous poll was interrupted before it finished; nothing it read was written."
# A queued poll whose message was lost is queued again after this.
QUEUE_TIMEOUT = timedelta(minutes=2)
# The task that runs ``poll`` (servicehealth.tasks); queued by name: tasks imports this module.
POLL_TASK = "servicehealth.tasks.poll_source"
MAX_BACKOFF = timedelta(hours=1)
# Sources queued per beat tick at most; the rest wait for the next one.
QUEUE_LIMIT = 200
INCIDENT_FIELDS = [*REPORTED_FIELDS, "details"]


@dataclass
class PollSummary:
    source: str = ""
    services: int = 0
    health_changes: int = 0
    incidents_created: int = 0
    incidents_updated: int = 0
    incidents_unchanged: int = 0
    posts_added: int = 0
    customers_linked: int = 0
    events: int = 0
    malformed: int = 0
    full_listing: bool = True
    requests: int = 0
    changes: list = field(default_factory=list)

    def lines(self):
        lines = [
            f"{self.source}: {self.incidents_created} new incidents, {self.incidents_updated} "
            f"updated, {self.incidents_unchanged} unchanged, {self.posts_added} new posts, "
            f"{self.health_changes} service status changes, {self.customers_linked} customer "
            f"links, {self.events} events ({self.requests} requests, "
            f"{'full listing' if self.full_listing else 'incremental'})."
        ]
        lines += [f"  {change}" for change in self.changes[:20]]
        if self.malformed:
            lines.append(f"  {self.malformed} records could not be read and were skipped.")
        return lines


class PollSkipped(Exception):
    """Another worker holds this source's lease, or it is disabled."""


class PollInterrupted(Exception):
    """The poll failed and the database was unreachable, so the failure is not recorded yet:
    ``record_interrupted(source_id, claimed_at)`` records it once the database is back."""

    def __init__(self, source_id, claimed_at):
        super().__init__(f"Poll of feed source {source_id} interrupted: the database went away.")
        self.source_id, self.claimed_at = source_id, claimed_at


# --- applying a snapshot ----------------------------------------------------------------------


def _incident_payload(incident):
    return {
        "microsoft_id": incident.microsoft_id,
        "title": incident.title,
        "status": incident.status,
        "classification": incident.classification,
        "service": incident.service,
        "is_resolved": incident.is_resolved,
        "last_modified_at": incident.last_modified_at,
    }


def _incident_event(type_, incident, tenant_id):
    return events.build(
        type=type_,
        summary=f"{incident.microsoft_id}: {incident.title}",
        object_type="incident",
        object_id=incident.microsoft_id,
        object_url=f"/api/v1/incidents/{incident.microsoft_id}/",
        consolidation_key=f"incident:{incident.microsoft_id}:{tenant_id}",
        tenant_id=tenant_id,
        payload=_incident_payload(incident),
    )


def _apply_services(source, snapshot, now, summary):
    services = {s.graph_id: s for s in Service.objects.filter(graph_id__in=snapshot.services)}
    new = [
        Service(graph_id=graph_id, name=name)
        for graph_id, (name, _status) in snapshot.services.items()
        if graph_id not in services
    ]
    if new:
        Service.objects.bulk_create(new, ignore_conflicts=True)
        services = {s.graph_id: s for s in Service.objects.filter(graph_id__in=snapshot.services)}
    renamed = []
    for graph_id, (name, _status) in snapshot.services.items():
        if services[graph_id].name != name:
            services[graph_id].name = name
            services[graph_id].modified_at = now  # bulk_update does not apply auto_now
            renamed.append(services[graph_id])
    if renamed:
        Service.objects.bulk_update(renamed, ["name", "modified_at"])
    summary.services = len(services)

    current = {h.service_id: h for h in TenantServiceHealth.objects.filter(source=source)}
    created, updated, history = [], [], []
    for graph_id, (_name, status) in snapshot.services.items():
        service = services[graph_id]
        row = current.get(service.pk)
        if row is None:
            created.append(
                TenantServiceHealth(source=source, service=service, status=status, updated_at=now)
            )
            history.append(
                TenantServiceHealthChange(
                    source=source, service=service, status=status, changed_at=now
                )
            )
        elif row.status != status:
            history.append(
                TenantServiceHealthChange(
                    source=source,
                    service=service,
                    previous_status=row.status,
                    status=status,
                    changed_at=now,
                )
            )
            summary.changes.append(f"{service.name}: {row.status} → {status}")
            row.status, row.updated_at = status, now
            updated.append(row)
    TenantServiceHealth.objects.bulk_create(created)
    TenantServiceHealth.objects.bulk_update(updated, ["status", "updated_at"])
    TenantServiceHealthChange.objects.bulk_create(history)
    summary.health_changes = len(updated)


def _apply_incidents(source, snapshot, now, summary):
    parsed = snapshot.issues
    existing = {i.microsoft_id: i for i in Incident.objects.filter(microsoft_id__in=parsed)}
    created, updated, resolved_now = [], [], []
    for microsoft_id, issue in parsed.items():
        incident = existing.get(microsoft_id)
        if incident is None:
            created.append(Incident(**issue.fields))
            continue
        changed = [
            name for name in INCIDENT_FIELDS if getattr(incident, name) != issue.fields[name]
        ]
        if changed:
            if issue.fields["is_resolved"] and not incident.is_resolved:
                resolved_now.append(incident)
            for name in INCIDENT_FIELDS:
                setattr(incident, name, issue.fields[name])
            incident.modified_at = now  # bulk_update does not apply auto_now
            updated.append(incident)
    Incident.objects.bulk_create(created)
    Incident.objects.bulk_update(updated, [*INCIDENT_FIELDS, "modified_at"])
    all_incidents = {**existing, **{i.microsoft_id: i for i in created}}
    summary.incidents_created = len(created)
    summary.incidents_updated = len(updated)
    summary.incidents_unchanged = len(parsed) - len(created) - len(updated)
    summary.changes += [f"new {i.microsoft_id}: {i.title}" for i in created]
    summary.changes += [f"updated {i.microsoft_id}: {i.status}" for i in updated]

    # Posts: only those whose fingerprint is new for their incident.
    known = set(
        IncidentPost.objects.filter(incident__in=all_incidents.values()).values_list(
            "incident_id", "fingerprint"
        )
    )
    new_posts = []
    for microsoft_id, issue in parsed.items():
        incident = all_incidents[microsoft_id]
        for post in issue.posts:
            key = (incident.pk, post["fingerprint"])
            if key not in known:
                known.add(key)
                new_posts.append(IncidentPost(incident=incident, **post))
    IncidentPost.objects.bulk_create(new_posts)
    summary.posts_added = len(new_posts)
    incidents_with_new_posts = {post.incident_id for post in new_posts}
    # A new post is news even if Microsoft did not touch the incident's other fields.
    touched_only_by_posts = [
        i for i in existing.values() if i.pk in incidents_with_new_posts and i not in updated
    ]
    if touched_only_by_posts:
        Incident.objects.filter(pk__in=[i.pk for i in touched_only_by_posts]).update(
            modified_at=now
        )
    return all_incidents, created, updated + touched_only_by_posts, resolved_now


def _apply_links_and_events(source, all_incidents, created, changed, resolved_now, now, summary):
    new_events = []
    if source.customer_id is not None:
        linked = set(
            AffectedCustomer.objects.filter(
                customer_id=source.customer_id, incident__in=all_incidents.values()
            ).values_list("incident_id", flat=True)
        )
        links = [
            AffectedCustomer(incident=incident, customer_id=source.customer_id, first_seen_at=now)
            for incident in all_incidents.values()
            if incident.pk not in linked
        ]
        AffectedCustomer.objects.bulk_create(links)
        if links:
            # The incident's customers are part of it in the API: incremental sync must see them.
            Incident.objects.filter(pk__in={link.incident_id for link in links}).update(
                modified_at=now
            )
        summary.customers_linked = len(links)
        tenant_id = source.customer.tenant_id
        # An incident already over when we first see it in this tenant is history, not news.
        new_events += [
            _incident_event(EventTypeChoices.INCIDENT_CREATED, link.incident, tenant_id)
            for link in links
            if not link.incident.is_resolved
        ]
        just_linked = {link.incident_id for link in links}
    else:
        just_linked = set()
    # Changes reach every customer the incident affects, whichever tenant's feed told us.
    changed_ids = {incident.pk for incident in changed} - just_linked
    resolved_ids = {incident.pk for incident in resolved_now}
    if changed_ids:
        by_pk = {incident.pk: incident for incident in changed}
        for incident_id, tenant_id in AffectedCustomer.objects.filter(
            incident_id__in=changed_ids
        ).values_list("incident_id", "customer__tenant_id"):
            type_ = (
                EventTypeChoices.INCIDENT_RESOLVED
                if incident_id in resolved_ids
                else EventTypeChoices.INCIDENT_UPDATED
            )
            new_events.append(_incident_event(type_, by_pk[incident_id], tenant_id))
    events.record(new_events)
    summary.events = len(new_events)


@transaction.atomic
def apply(source, snapshot, now=None):
    """Write one poll's snapshot, all or nothing. Returns a PollSummary."""
    now = now or timezone.now()
    summary = PollSummary(
        source=source.name,
        malformed=snapshot.malformed,
        full_listing=snapshot.full_listing,
        requests=snapshot.requests,
    )
    _apply_services(source, snapshot, now, summary)
    all_incidents, created, changed, resolved_now = _apply_incidents(source, snapshot, now, summary)
    _apply_links_and_events(source, all_incidents, created, changed, resolved_now, now, summary)
    newest = snapshot.newest_modification
    if newest and (source.issues_watermark is None or newest > source.issues_watermark):
        # Advanced with the data it covers, in the same transaction.
        FeedSource.objects.filter(pk=source.pk).update(issues_watermark=newest)
        source.issues_watermark = newest
    return summary


# --- polling a source: lease, read, write, record the outcome --------------------------------


def claim(source_id, now=None):
    """Take the source for this worker; None if another worker holds it or it is disabled.

    A lease that ran out was held by a poll that never recorded its outcome: that is recorded
    first, so the Feeds page shows it even if nothing told us in time.
    """
    now = now or timezone.now()
    record_interrupted(source_id, now=now)
    rows = FeedSource.objects.filter(pk=source_id, enabled=True)
    claimed = leases.take(rows, now, LEASE, last_polled_at=now)
    return FeedSource.objects.select_related("customer").get(pk=source_id) if claimed else None


def poll(source_id, client=None):
    """Poll one source now. Returns the PollSummary; raises PollSkipped or the read's error
    (already recorded on the source)."""
    source = claim(source_id)
    if source is None:
        raise PollSkipped(f"Feed source {source_id} is being polled elsewhere or is disabled.")
    failure = None
    try:
        client = client or feeds.client_for(source)
        snapshot = feeds.fetch(client, source.issues_watermark)
        # The data and the success, together: a poll whose success is not recorded wrote nothing.
        with transaction.atomic():
            summary = apply(source, snapshot)
            record_success(source)
    except GraphError as exc:
        failure = exc
        _record_failure_or_interrupt(
            source,
            str(exc),
            permanent=exc.permanent,
            retry_after=exc.retry_after,
            access_problem=feeds.access_problem(exc, source.auth_mode),
        )
    except Exception as exc:
        failure = exc
        _record_failure_or_interrupt(source, f"Unexpected error: {type(exc).__name__}")
    if source.through_connection:
        # After the outcome is committed, so two polls ending at once see each other's.
        cycles.source_finished()
    if failure is not None:
        raise failure
    return summary


def _record_failure_or_interrupt(source, error, **kwargs):
    try:
        record_failure(source, error, **kwargs)
    except (OperationalError, InterfaceError) as db_error:
        # The database went away mid-poll: the lease stays until the failure can be recorded.
        raise PollInterrupted(source.pk, source.last_polled_at) from db_error


def record_success(source, now=None):
    now = now or timezone.now()
    FeedSource.objects.filter(pk=source.pk).update(
        lease_until=None,
        queued_until=None,
        last_success_at=now,
        last_finished_at=now,
        last_error="",
        access_problem="",
        needs_attention=False,
        consecutive_failures=0,
        failing_since=None,
        next_poll_at=now + source.poll_interval,
    )


@transaction.atomic
def record_failure(
    source, error, *, permanent=False, retry_after=None, access_problem="", now=None
):
    """Record a failed poll; ``access_problem`` (an AccessProblem): what Microsoft's refusal
    asks an admin to grant, shown beside the error."""
    now = now or timezone.now()
    failures = source.consecutive_failures + 1
    if retry_after is not None:
        wait = timedelta(seconds=retry_after)
    else:
        wait = min(source.poll_interval * 2 ** min(failures - 1, 6), MAX_BACKOFF)
    FeedSource.objects.filter(pk=source.pk).update(
        lease_until=None,
        queued_until=None,
        last_error=error[:2000],
        last_error_at=now,
        last_finished_at=now,
        access_problem=access_problem,
        needs_attention=permanent,
        consecutive_failures=F("consecutive_failures") + 1,
        failing_since=Coalesce(F("failing_since"), Value(now)),
        next_poll_at=now + max(wait, source.poll_interval if permanent else timedelta(0)),
    )
    logger.warning("feed source %s failed (%s in a row): %s", source.pk, failures, error)
    if failures == 1:
        # Tell once, when a healthy source starts failing.
        events.record(
            [
                events.build(
                    type=EventTypeChoices.FEED_FAILING,
                    summary=f"{source.name}: {error}",
                    object_type="feed_source",
                    object_id=source.pk,
                    object_url=f"/api/v1/feed-sources/{source.pk}/",
                    consolidation_key=f"feed:{source.tenant_id}",
                    tenant_id=source.customer.tenant_id if source.customer_id else None,
                    payload={"source": source.name, "error": error, "needs_attention": permanent},
                )
            ]
        )


@transaction.atomic
def record_interrupted(source_id, claimed_at=None, now=None):
    """Record as failed a poll that claimed the source but never recorded its outcome.

    With ``claimed_at`` (the poll's claim time, from PollInterrupted): that poll, if it still
    holds the lease. Without: whichever poll held a lease that has run out. Returns True when a
    failure was recorded. The row lock makes two callers record it once.
    """
    now = now or timezone.now()
    rows = FeedSource.objects.select_for_update().filter(pk=source_id, lease_until__isnull=False)
    if claimed_at is None:
        rows = rows.filter(lease_until__lt=now)
    else:
        rows = rows.filter(last_polled_at=claimed_at)
    source = rows.first()
    if source is None:
        return False
    record_failure(source, INTERRUPTED, now=now)
    return True


def queue_due_sources(now=None):
    """Beat, every 30 s: claim the sources that are due and queue a poll for each.

    ``select_for_update(skip_locked=True)`` lets two schedulers run at once without queueing a
    source twice; ``queued_until`` re-queues a source whose message was lost.
    """
    now = now or timezone.now()
    enabled = FeedSource.objects.filter(enabled=True)
    due = leases.mark_queued(enabled, now, QUEUE_TIMEOUT, QUEUE_LIMIT)
    for source_id in due:
        try:
            queue_poll(source_id)
        except Exception:  # the broker is down: queued_until runs out and the next tick retries
            logger.warning("could not queue a poll of feed source %s", source_id, exc_info=True)
    return due


def queue_poll(source_id):
    """Ask a worker to poll the source; raises what the broker raises."""
    broker.send_task(POLL_TASK, source_id)
