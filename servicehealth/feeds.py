"""The service-communications feed of one tenant, read from Microsoft Graph.

``client_for(source)`` is the Graph client a source reads with, whatever its access mode
(``FeedSource.auth_mode``): the partner's refresh token redeemed in the customer tenant
(delegated, through GDAP), the partner's multi-tenant app with client credentials in the
customer tenant (app-only), or an app registration typed in for that tenant. ``access_problem``
tells, from Graph's or Entra ID's error code, what an admin must grant when a tenant refuses.

``fetch`` reads everything a poll needs (the health overviews, without their issues, and the
issues modified since the watermark, or all of them on a first poll or when Graph refuses the
filter) and returns it parsed; it writes nothing. Values are parsed defensively: a record Graph sends in a shape we
cannot read is counted and skipped, an enum value we do not know is kept as sent.
"""

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, timedelta

import orjson

from core.outbound import graph_client
from microsoft.clients import (
    NOT_CONNECTED_CODE,
    PartnerGraphClient,
    TenantRefused,
    graph_connection,
)
from microsoft.services import get_connection
from outbound.graph import GraphAuthError, GraphConnection, GraphError, parse_datetime
from servicehealth.models import AccessProblem, AuthMode

HEALTH_OVERVIEWS = "/admin/serviceAnnouncement/healthOverviews"
ISSUES = "/admin/serviceAnnouncement/issues"
# A poll must end well within the task's soft time limit.
POLL_DEADLINE_SECONDS = 90
# Graph answers an unsupported $filter with 400; these codes mean "filter refused".
FILTER_REFUSED_STATUSES = {400, 501}
# The incremental read starts this long before the watermark: a change Graph lists a little
# after its lastModifiedDateTime is still read. What is read again is compared before writing.
REREAD_OVERLAP = timedelta(minutes=15)


@dataclass
class ParsedIssue:
    fields: dict
    posts: list


@dataclass
class FeedSnapshot:
    services: dict = field(default_factory=dict)  # graph id -> (name, status)
    issues: dict = field(default_factory=dict)  # microsoft id -> ParsedIssue
    full_listing: bool = True
    malformed: int = 0
    requests: int = 0

    def digest(self, source):
        """What the snapshot says, for ``source`` (as whom and for which customer it reads), as a
        SHA-256: the services' names and statuses, and the fields and posts of the issues the
        next incremental read lists again (modified after the new watermark less the overlap),
        so a full listing and the incremental reads after it agree. Equal to the digest of the
        last snapshot a poll of ``source`` applied, it has nothing to write."""
        marks = [mark for mark in (source.issues_watermark, self.newest_modification) if mark]
        since = max(marks) - REREAD_OVERLAP if marks else None
        content = [
            [str(source.tenant_id), source.customer_id, source.auth_mode, source.base_url],
            sorted(self.services.items()),
            [
                [microsoft_id, issue.fields, sorted(post["fingerprint"] for post in issue.posts)]
                for microsoft_id, issue in sorted(self.issues.items())
                if since is None or (issue.fields["last_modified_at"] or since) > since
            ],
        ]
        return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()

    @property
    def newest_modification(self):
        times = [
            i.fields["last_modified_at"]
            for i in self.issues.values()
            if i.fields["last_modified_at"]
        ]
        return max(times) if times else None


# Graph's codes for a tenant that does not know the app (never consented there); any other 403
# (Authorization_RequestDenied, Forbidden, AccessDenied) is a user or app without the right
# here. Act on the code, never the message.
CONSENT_REFUSAL_CODES = frozenset(
    {
        "Authorization_IdentityNotFound",
        "Authorization_IdentityDisabled",
        "InvalidAuthenticationToken",
    }
)
# Entra ID's codes for a partner user the customer tenant does not admit (no GDAP relationship
# or no role in it), as opposed to an app it was never consented to.
NO_GDAP_ACCESS_AADSTS = frozenset({50020, 50177, 90072, 530004})


def connection_for(source):
    """Where and as whom ``source`` reads Graph. For the connection's modes, the URLs and the
    app are the partner connection's, read at every poll (a moved Graph URL is followed)."""
    if source.auth_mode == AuthMode.CLIENT_CREDENTIALS:
        return GraphConnection(
            base_url=source.base_url,
            token_url=source.token_url,
            tenant_id=str(source.tenant_id),
            client_id=source.client_id,
            client_secret=source.client_secret,
        )
    if source.auth_mode == AuthMode.APP_PER_TENANT:
        return graph_connection(source.tenant_id, client_secret=get_connection().client_secret)
    return graph_connection(source.tenant_id)


def client_for(source, **kwargs):
    """The Graph client ``source`` reads with (see the module's docstring)."""
    kwargs.setdefault("deadline_seconds", POLL_DEADLINE_SECONDS)
    connection = connection_for(source)
    if source.auth_mode == AuthMode.DELEGATED:
        return graph_client(connection, client_class=PartnerGraphClient, **kwargs)
    return graph_client(connection, **kwargs)


def access_problem(error, auth_mode):
    """What an admin must grant for a refusal (an ``AccessProblem``), or NONE when ``error``
    is not one. Delegated reads need a GDAP role; app-only ones the app's consent."""
    if not isinstance(error, GraphAuthError):
        return AccessProblem.NONE
    if error.code == NOT_CONNECTED_CODE:
        return AccessProblem.NEEDS_CONSENT
    if isinstance(error, TenantRefused):
        if error.aadsts & NO_GDAP_ACCESS_AADSTS:
            return AccessProblem.NEEDS_ROLE
        return AccessProblem.NEEDS_CONSENT
    if auth_mode == AuthMode.DELEGATED and error.status == 403:
        if error.code in CONSENT_REFUSAL_CODES:
            return AccessProblem.NEEDS_CONSENT
        return AccessProblem.NEEDS_ROLE
    return AccessProblem.NEEDS_CONSENT


def _text(value, limit):
    return str(value)[:limit] if value is not None else ""


def _enum(value, limit=40):
    """Graph's enum members are camelCase, though its documentation's examples sometimes show
    PascalCase ("ServiceRestored"): store one spelling. Unknown members are kept as sent."""
    text = _text(value, limit) or "unknownFutureValue"
    return text[:1].lower() + text[1:]


def fingerprint(posted_at, content):
    """Posts carry no id: their time and content identify them."""
    key = f"{posted_at.isoformat() if posted_at else ''}\n{content}"
    return hashlib.sha256(key.encode()).hexdigest()


def parse_post(raw):
    if not isinstance(raw, dict):
        return None
    description = raw.get("description") if isinstance(raw.get("description"), dict) else {}
    content = description.get("content")
    if not isinstance(content, str):
        return None
    posted_at = parse_datetime(raw.get("createdDateTime"))
    return {
        "posted_at": posted_at,
        "post_type": _enum(raw.get("postType")) if raw.get("postType") else "",
        "content_type": _enum(description.get("contentType") or "html", 20),
        "content": content,
        "fingerprint": fingerprint(posted_at, content),
    }


def parse_issue(raw):
    """A ``serviceHealthIssue`` as our Incident fields plus its posts; None if unreadable."""
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"]:
        return None
    details = raw.get("details") if isinstance(raw.get("details"), list) else []
    high_impact = raw.get("highImpact")
    fields = {
        "microsoft_id": raw["id"][:40],
        "classification": _enum(raw.get("classification")),
        "status": _enum(raw.get("status")),
        "title": _text(raw.get("title") or raw["id"], 500),
        "impact_description": _text(raw.get("impactDescription"), 10_000),
        "service": _text(raw.get("service"), 200),
        "feature": _text(raw.get("feature"), 200),
        "feature_group": _text(raw.get("featureGroup"), 200),
        "origin": _enum(raw.get("origin")) if raw.get("origin") else "",
        "is_resolved": raw.get("isResolved") is True,
        "high_impact": high_impact if isinstance(high_impact, bool) else None,
        "started_at": parse_datetime(raw.get("startDateTime")),
        "ended_at": parse_datetime(raw.get("endDateTime")),
        "last_modified_at": parse_datetime(raw.get("lastModifiedDateTime")),
        "details": [d for d in details if isinstance(d, dict)],
    }
    posts = []
    for post in raw.get("posts") or []:
        parsed = parse_post(post)
        if parsed is not None:
            posts.append(parsed)
    return ParsedIssue(fields=fields, posts=posts)


def _merge(snapshot, parsed):
    current = snapshot.issues.get(parsed.fields["microsoft_id"])
    if current is None:
        snapshot.issues[parsed.fields["microsoft_id"]] = parsed
        return
    # The same issue twice (Graph's pages moved while we read them): keep the newest.
    newer = parsed.fields["last_modified_at"] or current.fields["last_modified_at"]
    if current.fields["last_modified_at"] is None or (
        newer and newer > current.fields["last_modified_at"]
    ):
        snapshot.issues[parsed.fields["microsoft_id"]] = parsed


def _add_issues(snapshot, issues):
    for raw in issues:
        parsed = parse_issue(raw)
        if parsed is None:
            snapshot.malformed += 1
        else:
            _merge(snapshot, parsed)


def fetch(client, watermark=None):
    """Read the tenant's feed. Raises GraphError on failure; writes nothing.

    The overviews are read without ``$expand=issues``: their issues are the ones ``/issues``
    lists, and a poll that learns nothing should download (almost) nothing."""
    snapshot = FeedSnapshot()
    # The overviews and the issues: two requests at least, counted against the tenant's budgets
    # in one round trip.
    client.reserve_requests(2)
    for overview in client.get_collection(HEALTH_OVERVIEWS):
        if not isinstance(overview, dict) or not overview.get("id") or not overview.get("service"):
            snapshot.malformed += 1
            continue
        snapshot.services[_text(overview["id"], 100)] = (
            _text(overview["service"], 200),
            _enum(overview.get("status")),
        )
    issues = None
    if watermark is not None:
        since = (watermark - REREAD_OVERLAP).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            issues = list(
                client.get_collection(ISSUES, {"$filter": f"lastModifiedDateTime gt {since}"})
            )
            snapshot.full_listing = False
        except GraphError as exc:
            if exc.status not in FILTER_REFUSED_STATUSES:
                raise
            issues = None  # Graph refused the filter: read the full list instead
    if issues is None:
        issues = list(client.get_collection(ISSUES))
    _add_issues(snapshot, issues)
    snapshot.requests = client.requests_made
    return snapshot
