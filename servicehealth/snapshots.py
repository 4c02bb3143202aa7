"""Writing what one poll of a feed source read (a ``feeds.FeedSnapshot``), all or nothing.

``compare`` reads what is stored and decides every write; ``write`` makes them, inside the
caller's transaction (servicehealth.polling opens one only when ``Changes.writes_data``, so a
snapshot that learns nothing costs two reads and no transaction; one with the digest of the
last snapshot applied, ``unchanged``, costs none). Writes are bulk statements, so the number
of queries does not grow with the number of incidents or posts. The incidents of
one snapshot go in a single upsert ordered by Microsoft id, so polls of tenants that share
incidents can run at once (servicehealth.pool): they lock those rows in one order, and a row
another poll inserted meanwhile is updated rather than refused. Events (incident
created/updated/resolved) are written in the same transaction as the change they report.
"""

from dataclasses import dataclass, field

from django.db.models import Count, Exists, OuterRef, Value
from django.utils import timezone

from core import events, leases
from core.models import EventTypeChoices
from incidents.models import REPORTED_FIELDS, AffectedCustomer, Incident, IncidentPost
from servicehealth.models import FeedSource, Service, TenantServiceHealth, TenantServiceHealthChange

INCIDENT_FIELDS = [*REPORTED_FIELDS, "details"]


@dataclass
class PollSummary(leases.PollSummary):
    services: int = 0
    health_changes: int = 0
    incidents_created: int = 0
    incidents_updated: int = 0
    incidents_unchanged: int = 0
    posts_added: int = 0
    customers_linked: int = 0
    events: int = 0
    full_listing: bool = True

    def headline(self):
        return (
            f"{self.source}: {self.incidents_created} new incidents, {self.incidents_updated} "
            f"updated, {self.incidents_unchanged} unchanged, {self.posts_added} new posts, "
            f"{self.health_changes} service status changes, {self.customers_linked} customer "
            f"links, {self.events} events ({self.requests} requests, "
            f"{'full listing' if self.full_listing else 'incremental'})."
        )


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


def _services(snapshot, missing):
    """The Service rows of ``missing`` (Graph ids), created where there are none yet."""
    found = {s.graph_id: s for s in Service.objects.filter(graph_id__in=missing)}
    new = [
        Service(graph_id=graph_id, name=snapshot.services[graph_id][0])
        for graph_id in sorted(missing)
        if graph_id not in found
    ]
    if new:
        Service.objects.bulk_create(new, ignore_conflicts=True)
        found = {s.graph_id: s for s in Service.objects.filter(graph_id__in=missing)}
    return found


def _stored_health(source):
    """This tenant's statuses with their services, by Graph id: one read."""
    return {
        row.service.graph_id: row
        for row in TenantServiceHealth.objects.filter(source=source).select_related("service")
    }


def _health_unchanged(current, snapshot):
    return all(
        graph_id in current
        and current[graph_id].service.name == name
        and current[graph_id].status == status
        for graph_id, (name, status) in snapshot.services.items()
    )


def _apply_services(source, snapshot, current, now, summary):
    services = {g: current[g].service for g in snapshot.services if g in current}
    missing = [graph_id for graph_id in snapshot.services if graph_id not in services]
    if missing:
        services.update(_services(snapshot, missing))
    renamed = []
    for graph_id, (name, _status) in snapshot.services.items():
        if services[graph_id].name != name:
            services[graph_id].name = name
            services[graph_id].modified_at = now  # bulk_update does not apply auto_now
            renamed.append(services[graph_id])
    if renamed:
        Service.objects.bulk_update(renamed, ["name", "modified_at"])
    summary.services = len(services)

    created, updated, history, lines = [], [], [], []
    for graph_id, (_name, status) in snapshot.services.items():
        service = services[graph_id]
        row = current.get(graph_id)
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
            lines.append(f"{service.name}: {row.status} → {status}")
            row.status, row.updated_at = status, now
            updated.append(row)
    TenantServiceHealth.objects.bulk_create(created)
    TenantServiceHealth.objects.bulk_update(updated, ["status", "updated_at"])
    TenantServiceHealthChange.objects.bulk_create(history)
    summary.changes[:0] = lines  # status changes before the incidents' (compare's)
    summary.health_changes = len(updated)


@dataclass
class _IncidentWrites:
    """What one snapshot changes in the incidents, decided before anything is written."""

    rows: dict = field(default_factory=dict)  # microsoft id -> Incident to upsert
    posts: dict = field(default_factory=dict)  # microsoft id -> its new posts
    link: set = field(default_factory=set)  # microsoft ids this customer is newly affected by
    changed: set = field(default_factory=set)  # updated, or with new posts: news to tell
    resolved: set = field(default_factory=set)


def _new_posts(issue, incident_id, known_posts):
    posts, seen = [], set()
    for post in issue.posts:
        key = (incident_id, post["fingerprint"])
        if key not in known_posts and key not in seen:
            seen.add(key)
            posts.append(post)
    return posts


def _stored_incidents(parsed, customer_id):
    """The snapshot's incidents as stored, by Microsoft id, each with ``post_count`` and
    ``linked`` (to this customer already): one read."""
    if customer_id is None:
        linked = Value(True)
    else:
        linked = Exists(
            AffectedCustomer.objects.filter(incident=OuterRef("pk"), customer_id=customer_id)
        )
    rows = Incident.objects.filter(microsoft_id__in=parsed).annotate(
        post_count=Count("posts"), linked=linked
    )
    return {incident.microsoft_id: incident for incident in rows}


def _differs(incident, issue):
    return any(getattr(incident, name) != issue.fields[name] for name in INCIDENT_FIELDS)


def _plan_incidents(source, parsed, summary):
    """Compare the snapshot with what is stored: an incident is written when it is new, when a
    reported field changed, or when it has a new post or a new customer (its ``modified_at``
    then moves, for incremental API readers). One read when nothing changed; the posts are read
    only for incidents that changed or whose number of posts did (Graph moves an issue's
    lastModifiedDateTime when it posts)."""
    plan = _IncidentWrites()
    if not parsed:
        return plan
    customer_id = source.customer_id
    existing = _stored_incidents(parsed, customer_id)
    maybe_new_posts = {
        incident.pk
        for microsoft_id, incident in existing.items()
        if _differs(incident, parsed[microsoft_id])
        or incident.post_count != len({post["fingerprint"] for post in parsed[microsoft_id].posts})
    }
    known_posts = set()
    if maybe_new_posts:
        known_posts = set(
            IncidentPost.objects.filter(incident__in=maybe_new_posts).values_list(
                "incident_id", "fingerprint"
            )
        )
    for microsoft_id, issue in parsed.items():
        incident = existing.get(microsoft_id)
        pk = incident.pk if incident is not None else None
        posts = _new_posts(issue, pk, known_posts) if pk is None or pk in maybe_new_posts else []
        new_link = customer_id is not None and (incident is None or not incident.linked)
        if incident is None:
            summary.incidents_created += 1
            summary.changes.append(f"new {microsoft_id}: {issue.fields['title']}")
        elif _differs(incident, issue):
            summary.incidents_updated += 1
            summary.changes.append(f"updated {microsoft_id}: {issue.fields['status']}")
            plan.changed.add(microsoft_id)
            if issue.fields["is_resolved"] and not incident.is_resolved:
                plan.resolved.add(microsoft_id)
        elif posts:
            plan.changed.add(microsoft_id)  # a new post is news even if nothing else changed
        elif not new_link:
            continue
        plan.rows[microsoft_id] = Incident(**issue.fields)
        plan.posts[microsoft_id] = posts
        if new_link:
            plan.link.add(microsoft_id)
    summary.incidents_unchanged = (
        len(parsed) - summary.incidents_created - summary.incidents_updated
    )
    return plan


def _apply_incidents(source, plan, now, summary):
    """Write the planned incidents, their new posts and this customer's new links; the plan's
    incidents then carry their primary keys.

    The incidents go in one upsert ordered by Microsoft id: polls of tenants that share incidents,
    running at once, lock those rows in the same order (no deadlock), and a row another poll
    inserted meanwhile is updated rather than refused. Posts another poll added meanwhile are
    skipped the same way.
    """
    ordered = [plan.rows[microsoft_id] for microsoft_id in sorted(plan.rows)]
    Incident.objects.bulk_create(
        ordered,
        update_conflicts=True,
        unique_fields=["microsoft_id"],
        update_fields=[*INCIDENT_FIELDS, "modified_at"],
    )
    new_posts = [
        IncidentPost(incident=plan.rows[microsoft_id], **post)
        for microsoft_id, posts in plan.posts.items()
        for post in posts
    ]
    IncidentPost.objects.bulk_create(new_posts, ignore_conflicts=True)
    summary.posts_added = len(new_posts)
    links = [
        AffectedCustomer(
            incident=plan.rows[microsoft_id], customer_id=source.customer_id, first_seen_at=now
        )
        for microsoft_id in sorted(plan.link)
    ]
    AffectedCustomer.objects.bulk_create(links)
    summary.customers_linked = len(links)


def _record_events(source, plan, summary):
    """incident.created for this customer's new incidents (unless already over when first
    seen: history, not news); updated/resolved to every customer a changed incident affects,
    whichever tenant's feed told us."""
    new_events = []
    if plan.link:
        tenant_id = source.customer.tenant_id
        new_events += [
            _incident_event(EventTypeChoices.INCIDENT_CREATED, plan.rows[microsoft_id], tenant_id)
            for microsoft_id in sorted(plan.link)
            if not plan.rows[microsoft_id].is_resolved
        ]
    changed = {
        plan.rows[microsoft_id].pk: plan.rows[microsoft_id]
        for microsoft_id in plan.changed - plan.link
    }
    if changed:
        for incident_id, tenant_id in AffectedCustomer.objects.filter(
            incident_id__in=changed
        ).values_list("incident_id", "customer__tenant_id"):
            incident = changed[incident_id]
            type_ = (
                EventTypeChoices.INCIDENT_RESOLVED
                if incident.microsoft_id in plan.resolved
                else EventTypeChoices.INCIDENT_UPDATED
            )
            new_events.append(_incident_event(type_, incident, tenant_id))
    events.record(new_events)
    summary.events = len(new_events)


@dataclass
class Changes:
    """What one snapshot changes, decided by ``compare`` before anything is written."""

    source: FeedSource
    snapshot: object  # feeds.FeedSnapshot
    now: object
    summary: PollSummary
    health: dict  # graph id -> this tenant's TenantServiceHealth, as stored
    incidents: _IncidentWrites
    watermark: object = None  # the source's new issues watermark, if it moves

    @property
    def writes_data(self):
        return bool(self.incidents.rows) or not _health_unchanged(self.health, self.snapshot)


def _summary(source, snapshot):
    return PollSummary(
        source=source.name,
        malformed=snapshot.malformed,
        full_listing=snapshot.full_listing,
        requests=snapshot.requests,
    )


def unchanged(source, snapshot):
    """The PollSummary of a snapshot that says what the last one applied said: every service
    and incident unchanged, nothing read or written."""
    summary = _summary(source, snapshot)
    summary.services = len(snapshot.services)
    summary.incidents_unchanged = len(snapshot.issues)
    return summary


def compare(source, snapshot, now=None):
    """Compare one poll's snapshot with what is stored (reads only). Returns its Changes."""
    now = now or timezone.now()
    summary = _summary(source, snapshot)
    newest = snapshot.newest_modification
    return Changes(
        source=source,
        snapshot=snapshot,
        now=now,
        summary=summary,
        health=_stored_health(source),
        incidents=_plan_incidents(source, snapshot.issues, summary),
        watermark=(
            newest
            if newest and (source.issues_watermark is None or newest > source.issues_watermark)
            else None
        ),
    )


def write(changes):
    """Make ``changes``' writes, inside the caller's transaction (none when it writes no
    data); the watermark is the caller's to record with the poll's success. Returns the
    PollSummary."""
    source, summary = changes.source, changes.summary
    _apply_services(source, changes.snapshot, changes.health, changes.now, summary)
    _apply_incidents(source, changes.incidents, changes.now, summary)
    _record_events(source, changes.incidents, summary)
    return summary
