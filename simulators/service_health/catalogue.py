"""The scenario the simulator serves: issues, the tenants they affect, and the clock."""

import bisect
import threading
from datetime import UTC

from simulators.graph import graph_time
from simulators.scripting import ScenarioClock, to_ms
from simulators.service_health.model import (
    OPEN_STATUSES,
    RESOLVED_STATUSES,
    SERVICES,
    SEVERITY,
    UNKNOWN_SEVERITY,
    IssueState,
    IssueStep,
    SimulatedIssue,
    SimulatedTenant,
    service_time,
)


class IssueCatalogue(ScenarioClock):
    """The issues Microsoft publishes and the tenants that see them, on a scenario clock: what a
    scenario is built with and what each tenant sees at any moment. ``ServiceHealthSimulator``
    serves it over HTTP."""

    def __init__(self, *, seven_digit_times=False):
        self.tenants = {}  # tenant id -> SimulatedTenant
        self.issues = {}  # issue id -> SimulatedIssue (the shared catalogue)
        self.services = {sid: name for sid, (name, _prefix) in SERVICES.items()}
        self.seven_digit_times = seven_digit_times
        self.lock = threading.RLock()
        self._offset = 0.0  # seconds added to real time by advance()

    # --- building a scenario ---------------------------------------------------------------
    def add_service(self, service_id, name):
        self.services[service_id] = name

    def add_tenant(
        self,
        tenant_id,
        *,
        client_id,
        client_secret,
        services=None,
        display_name="",
        consented=True,
    ):
        tenant_id = str(tenant_id)
        services = list(services if services is not None else self.services)
        unknown = [s for s in services if s not in self.services]
        if unknown:
            raise ValueError(f"Unknown service ids: {unknown}")
        with self.lock:
            if tenant_id in self.tenants:
                raise ValueError(f"Tenant {tenant_id} already exists.")
            tenant = SimulatedTenant(
                tenant_id=tenant_id,
                client_id=client_id,
                client_secret=client_secret,
                display_name=display_name,
                services=services,
                consented=consented,
            )
            self.tenants[tenant_id] = tenant
        return tenant

    def add_issue(
        self,
        issue_id,
        *,
        service_id,
        title,
        impact_description,
        steps,
        tenant_ids,
        classification="incident",
        origin="microsoft",
        feature="",
        feature_group="",
        high_impact=False,
        details=None,
        started=None,
    ):
        """Publish an issue to the tenants in ``tenant_ids``. ``steps``: IssueStep objects or
        ``(at, status, content[, post_type[, resolved]])`` tuples; an issue is invisible until
        its first step."""
        if service_id not in self.services:
            raise ValueError(f"Unknown service id {service_id!r}.")
        steps = sorted(
            (s if isinstance(s, IssueStep) else IssueStep(*s) for s in steps),
            key=lambda s: s.at,
        )
        if not steps:
            raise ValueError("An issue needs at least one step.")
        for step in steps:
            step.at = to_ms(step.at.astimezone(UTC))
        issue = SimulatedIssue(
            id=issue_id,
            service_id=service_id,
            title=title,
            impact_description=impact_description,
            classification=classification,
            origin=origin,
            feature=feature,
            feature_group=feature_group,
            high_impact=high_impact,
            details=list(details or []),
            steps=steps,
            started=started,
        )
        with self.lock:
            if issue_id in self.issues:
                raise ValueError(f"Issue {issue_id} already exists.")
            self.issues[issue_id] = issue
            self.assign(issue_id, tenant_ids)
        return issue

    def assign(self, issue_id, tenant_ids):
        """Show an existing issue to more tenants."""
        with self.lock:
            issue = self.issues[issue_id]
            for tenant_id in tenant_ids:
                tenant = self.tenants[str(tenant_id)]
                tenant.issue_ids.add(issue_id)
                issue.tenant_ids.add(tenant.tenant_id)

    def add_update(
        self, issue_id, status, content=None, *, at=None, post_type="regular", resolved=None
    ):
        """Microsoft posts an update to an issue (now, unless ``at`` says when)."""
        step = IssueStep(
            at=to_ms((at or self.now()).astimezone(UTC)),
            status=status,
            content=content,
            post_type=post_type,
            resolved=resolved,
        )
        with self.lock:
            steps = self.issues[issue_id].steps
            keys = [s.at for s in steps]
            steps.insert(bisect.bisect_right(keys, step.at), step)
        return step

    def inject_unknown_enum(
        self,
        issue_id,
        *,
        status="someFutureStatus",
        post_type="someFuturePostType",
        classification=None,
        origin=None,
    ):
        """Microsoft starts using values the documentation does not list (yet), on one issue:
        an update now with ``status`` and a post of ``post_type``; ``classification`` and
        ``origin``, when given, replace the issue's own."""
        with self.lock:
            issue = self.issues[issue_id]
            if classification is not None:
                issue.overrides["classification"] = classification
            if origin is not None:
                issue.overrides["origin"] = origin
        issue = self.issues[issue_id]
        return self.add_update(
            issue_id,
            status,
            f"Title: {issue.title}\n\nUser impact: {issue.impact_description}\n\n"
            "Current status: We're continuing to monitor the service.",
            post_type=post_type,
        )

    # --- reading the scenario ---------------------------------------------------------------
    def state(self, issue_id, at=None):
        """The issue as of ``at`` (default now); None before its first step."""
        return self._state(self.issues[issue_id], at or self.now())

    def issue_json(self, issue_id, at=None):
        """The issue exactly as Graph serves it as of ``at`` (default now)."""
        at = at or self.now()
        with self.lock:
            issue = self.issues[issue_id]
            state = self._state(issue, at)
            return self._issue_json(issue, state) if state else None

    def issues_for(self, tenant_id, at=None):
        """All issues ``tenant_id`` sees as of ``at``, as Graph serves them, by id."""
        at = at or self.now()
        with self.lock:
            tenant = self.tenants[str(tenant_id)]
            return [self._issue_json(i, s) for i, s in self._visible(tenant, at)]

    def overview_status(self, tenant_id, service_id, at=None):
        at = at or self.now()
        with self.lock:
            visible = self._visible(self.tenants[str(tenant_id)], at)
            return self._overview_status(service_id, visible)

    def _state(self, issue, at):
        """The issue as of ``at``. It changes only at its steps: the state computed last is
        served again while ``at`` lies between the same two steps and the issue's steps, status
        override and start are those it was computed from, so an issue many tenants see is
        worked out once, not once per tenant and request."""
        steps = issue.steps
        basis = (len(steps), issue.overrides.get("status"), issue.started)
        held = issue.held_state
        if held is not None and held[0] is steps and held[1] == basis:
            since, until, state = held[2:]
            if (since is None or since <= at) and (until is None or at < until):
                return state
        applied = bisect.bisect_right(steps, at, key=lambda step: step.at)
        since = steps[applied - 1].at if applied else None
        until = steps[applied].at if applied < len(steps) else None
        state = self._state_at(issue, at)
        issue.held_state = (steps, basis, since, until, state)
        return state

    def _state_at(self, issue, at):
        status, resolved, ended, modified, posts = None, False, None, None, []
        for step in issue.steps:
            if step.at > at:
                break
            status = step.status
            if step.resolved is not None:
                now_resolved = step.resolved
            elif step.status in RESOLVED_STATUSES:
                now_resolved = True
            elif step.status in OPEN_STATUSES:
                now_resolved = False
            else:
                now_resolved = resolved
            if now_resolved and not resolved:
                ended = step.at
            elif not now_resolved:
                ended = None
            resolved = now_resolved
            modified = step.at
            if step.content is not None:
                posts.append(step)
        if status is None:
            return None
        started = issue.started or issue.steps[0].at.replace(second=0, microsecond=0)
        return IssueState(
            status=issue.overrides.get("status", status),
            is_resolved=resolved,
            started=started,
            ended=ended,
            modified=modified,
            posts=posts,
        )

    def _visible(self, tenant, at):
        """(issue, state) pairs the tenant sees as of ``at``, ordered by issue id."""
        result = []
        for issue_id in sorted(tenant.issue_ids):
            issue = self.issues[issue_id]
            state = self._state(issue, at)
            if state is not None:
                result.append((issue, state))
        return result

    def _time(self, value):
        return graph_time(value) if self.seven_digit_times else service_time(value)

    def _issue_json(self, issue, state):
        return {
            "startDateTime": self._time(state.started),
            "endDateTime": self._time(state.ended),
            "lastModifiedDateTime": self._time(state.modified),
            "title": issue.title,
            "id": issue.id,
            "impactDescription": issue.impact_description,
            "classification": issue.overrides.get("classification", issue.classification),
            "origin": issue.overrides.get("origin", issue.origin),
            "status": state.status,
            "service": self.services[issue.service_id],
            "feature": issue.feature,
            "featureGroup": issue.feature_group,
            "isResolved": state.is_resolved,
            "highImpact": issue.high_impact,
            "details": [dict(d) for d in issue.details],
            "posts": [
                {
                    "createdDateTime": self._time(post.at),
                    "postType": post.post_type,
                    "description": {"contentType": "html", "content": post.content},
                }
                for post in state.posts
            ],
        }

    def _overview_status(self, service_id, visible):
        return self._overview_statuses(visible).get(service_id, "serviceOperational")

    def _overview_statuses(self, visible):
        """The status of each service with an unresolved incident, from one pass over
        ``visible``: its worst incident's (the services missing are operational)."""
        worst = {}  # service id -> (rank, status)
        for issue, state in visible:
            if (
                state.is_resolved
                or issue.overrides.get("classification", issue.classification) != "incident"
            ):
                continue
            rank = SEVERITY.get(state.status, UNKNOWN_SEVERITY)
            if rank > worst.get(issue.service_id, (0,))[0]:
                worst[issue.service_id] = (rank, state.status)
        return {service_id: status for service_id, (_rank, status) in worst.items()}
