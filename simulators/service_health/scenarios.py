"""Ready-made scenarios: ``demo`` for `make run`, ``bulk`` for benchmarks."""

import random
from datetime import timedelta

from simulators.scripting import to_ms
from simulators.service_health.demo_issues import DEMO_ISSUES, post_text
from simulators.service_health.model import (
    CORE_SERVICES,
    RESOLVED_STATUSES,
    SERVICES,
    IssueStep,
    SimulatedIssue,
    SimulatedTenant,
)
from simulators.service_health.server import ServiceHealthSimulator


def _demo_steps(spec, t0):
    steps, start = [], t0 + timedelta(minutes=spec["steps"][0][0])
    for index, (minutes, status, post_type, text) in enumerate(spec["steps"]):
        at = t0 + timedelta(minutes=minutes)
        following = spec["steps"][index + 1][0] if index + 1 < len(spec["steps"]) else None
        if status in RESOLVED_STATUSES and status != "postIncidentReviewPublished":
            content = post_text(
                spec["title"],
                spec["impact"],
                text,
                scope=spec.get("scope"),
                final=(start, at, spec.get("root_cause", "We're still reviewing the cause.")),
            )
        elif status == "postIncidentReviewPublished":
            content = text
        else:
            next_update = at + timedelta(minutes=following - minutes if following else 60)
            content = post_text(
                spec["title"],
                spec["impact"],
                text,
                scope=spec.get("scope"),
                next_update=next_update,
            )
        steps.append(IssueStep(at=at, status=status, content=content, post_type=post_type))
    return steps


def demo(
    tenant_ids,
    *,
    seed=20261127,
    secret="demo-graph-secret",  # noqa: S107 - the simulator's own demo credential
    client_id="partner-portal-demo",
    entra=None,
    other_graph=None,
):
    """A realistic scenario for ``tenant_ids``: the first is the partner's own tenant and has
    every service; the others have the core Microsoft 365 services and some of the rest. All
    accept ``client_id``/``secret`` (one multi-tenant app registration, consented everywhere)
    and, with ``entra``, the partner's tokens that EntraSimulator redeemed in them (GDAP);
    ``other_graph`` answers the rest of Graph on the same host.

    Thirteen issues: one Exchange Online incident every tenant sees, some resolved days ago (one
    with a post-incident review, one false positive), some progressing over the next minutes
    (Exchange restored at +6 min, Teams at +12, Intune at +15), one appearing at +3 min (Power
    Platform), some still open, and advisories."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible scenario, not cryptography
    simulator = ServiceHealthSimulator(entra=entra, other_graph=other_graph)
    t0 = simulator.now()
    tenant_ids = [str(t) for t in tenant_ids]
    optional = [sid for sid in SERVICES if sid not in CORE_SERVICES]
    for index, tenant_id in enumerate(tenant_ids):
        if index == 0:
            services = list(SERVICES)
        else:
            extra = {sid for sid in optional if rng.random() < 0.6}
            services = [sid for sid in SERVICES if sid in CORE_SERVICES or sid in extra]
        simulator.add_tenant(
            tenant_id,
            client_id=client_id,
            client_secret=secret,
            services=services,
            display_name="Partner" if index == 0 else f"Customer {index}",
        )
    for spec in DEMO_ISSUES:
        having = [t for t in tenant_ids if spec["service"] in simulator.tenants[t].services]
        if spec["share"] >= 1.0:
            chosen = having
        else:
            chosen = [t for t in having if rng.random() < spec["share"]] or having[:1]
        simulator.add_issue(
            spec["id"],
            service_id=spec["service"],
            title=spec["title"],
            impact_description=spec["impact"],
            classification=spec.get("classification", "incident"),
            origin=spec.get("origin", "microsoft"),
            feature=spec["feature"],
            feature_group=spec["feature_group"],
            high_impact=spec.get("high_impact", False),
            details=[{"name": "NotifyInApp", "value": "True"}] if spec.get("high_impact") else [],
            steps=_demo_steps(spec, t0),
            tenant_ids=chosen,
        )
    return simulator


_BULK_TITLES = {
    "Exchange": "Users may experience delays sending or receiving email ({n})",
    "microsoftteams": "Users may be unable to load chats in Microsoft Teams ({n})",
    "SharePoint": "Users may be unable to open some SharePoint Online pages ({n})",
    "OneDriveForBusiness": "Users may be unable to share files from OneDrive ({n})",
    "OrgLiveID": "Some users may experience sign-in delays ({n})",
    "Intune": "Admins may be unable to deploy some app protection policies ({n})",
    "OSDPPlatform": "Users may experience latency across Microsoft 365 services ({n})",
    "PowerPlatform": "Some Power Apps may load slowly ({n})",
    "DynamicsCRM": "Users may see errors saving records in Dynamics 365 ({n})",
    "Microsoft365Defender": "Admins may see delays in the Microsoft Defender portal ({n})",
}
_BULK_PROGRESS = (
    "investigating",
    "serviceDegradation",
    "restoringService",
    "extendedRecovery",
    "verifyingService",
)


def bulk(
    tenant_count,
    incidents_per_tenant,
    posts_per_incident,
    *,
    pool_size=None,
    secret="demo-graph-secret",  # noqa: S107 - the simulator's own demo credential
    client_id="partner-portal-demo",
    base=None,
    latency=0.0,
    first_tenant=1,
):
    """A large deterministic scenario for benchmarks: ``tenant_count`` tenants (ids
    ``00000001-0000-4000-8000-000000000001`` ...), each affected by ``incidents_per_tenant``
    issues of ``posts_per_incident`` posts. Issues come from a shared pool (default twice the
    issues per tenant) and each tenant sees a window of it, so most issues affect many tenants.
    Every step lies in the past of ``base`` (default now): the scenario is static. Tenants share
    their issue objects, so 10,000 of them cost a few megabytes and under a second to build.
    ``latency``: seconds each answer waits (ServiceHealthSimulator); ``first_tenant``: the number
    the tenant ids start from, so two scenarios in one database have distinct tenants."""
    pool_size = max(pool_size or 2 * incidents_per_tenant, incidents_per_tenant)
    simulator = ServiceHealthSimulator(latency=latency)
    base = to_ms(base or simulator.now())
    service_ids = list(SERVICES)
    for n in range(first_tenant, first_tenant + tenant_count):
        tenant_id = f"{n:08x}-0000-4000-8000-{n:012x}"
        simulator.tenants[tenant_id] = SimulatedTenant(
            tenant_id=tenant_id,
            client_id=client_id,
            client_secret=secret,
            display_name=f"Customer {n}",
            services=list(service_ids),
        )
    for k in range(pool_size):
        service_id = service_ids[k % len(service_ids)]
        name, prefix = SERVICES[service_id]
        issue_id = f"{prefix}{100000 + k}"
        title = _BULK_TITLES[service_id].format(n=k)
        impact = f"Users of {name} may be affected by issue {issue_id}."
        advisory = k % 7 == 3
        resolved = k % 5 < 3
        started = base - timedelta(hours=1 + k % 96, minutes=k % 60)
        steps = []
        for p in range(posts_per_incident):
            last = p == posts_per_incident - 1
            status = (
                "serviceRestored" if last and resolved else _BULK_PROGRESS[p % len(_BULK_PROGRESS)]
            )
            at = started + timedelta(minutes=20 * p)
            steps.append(
                IssueStep(
                    at=at,
                    status=status,
                    content=f"Title: {title}\n\nUser impact: {impact}\n\nCurrent status: "
                    f"Update {p + 1} of {posts_per_incident}: {status}.",
                    post_type="quick" if p == 0 else "regular",
                )
            )
        issue = SimulatedIssue(
            id=issue_id,
            service_id=service_id,
            title=title,
            impact_description=impact,
            classification="advisory" if advisory else "incident",
            feature=name,
            feature_group=name,
            high_impact=k % 11 == 0,
            steps=steps,
        )
        simulator.issues[issue_id] = issue
    pool = list(simulator.issues.values())
    stride = max(1, incidents_per_tenant // 2)
    for index, tenant in enumerate(simulator.tenants.values()):
        start = (index * stride) % pool_size
        for j in range(incidents_per_tenant):
            issue = pool[(start + j) % pool_size]
            tenant.issue_ids.add(issue.id)
            issue.tenant_ids.add(tenant.tenant_id)
    return simulator
