"""The service-communications simulator over real HTTP on loopback: tenants, tokens, paging,
filters, the scenario clock, faults. No database."""

import json
import re
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import pytest
import requests

from outbound.graph import parse_datetime
from simulators.http import SimulatorServer
from simulators.service_health.model import SERVICE_HEALTH_STATUSES, IssueStep
from simulators.service_health.scenarios import bulk, demo
from simulators.service_health.server import ServiceHealthSimulator

PARTNER = "7b0c1f4e-2a5d-4c8b-9e3f-1d6a8b4c2e90"
CONTOSO = "11111111-1111-4111-8111-111111111111"
FABRIKAM = "22222222-2222-4222-8222-222222222222"
NORTHWIND = "33333333-3333-4333-8333-333333333333"
TENANTS = [PARTNER, CONTOSO, FABRIKAM, NORTHWIND]
CLIENT_ID = "partner-portal-demo"
SECRET = "demo-graph-secret"
ISSUES = "/v1.0/admin/serviceAnnouncement/issues"
OVERVIEWS = "/v1.0/admin/serviceAnnouncement/healthOverviews"
SERVICE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$")


@pytest.fixture
def serve():
    """``serve(simulator)`` runs it on a free loopback port and returns its base URL."""
    with ExitStack() as running:
        yield lambda simulator: running.enter_context(SimulatorServer(simulator)).url


def token_response(url, tenant_id, *, client_id=CLIENT_ID, secret=SECRET):
    return requests.post(
        f"{url}/{tenant_id}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": "https://graph.microsoft.com/.default",
        },
        timeout=5,
    )


def token(url, tenant_id):
    response = token_response(url, tenant_id)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def get(url_or_link, bearer, path="", **params):
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return requests.get(url_or_link + path, params=params or None, headers=headers, timeout=5)


def modified(resource):
    """When ``resource`` (an issue as JSON) last changed."""
    return parse_datetime(resource["lastModifiedDateTime"])


def overview_status(url, bearer, service_id):
    """The status the tenant's health overview gives ``service_id``."""
    overviews = get(url, bearer, OVERVIEWS).json()["value"]
    return {overview["id"]: overview["status"] for overview in overviews}[service_id]


def walk(url, bearer, path=ISSUES, **params):
    """Every page of a collection: (items, pages)."""
    items, pages, response = [], 0, get(url, bearer, path, **params)
    while True:
        assert response.status_code == 200, response.text
        payload = response.json()
        items += payload["value"]
        pages += 1
        link = payload.get("@odata.nextLink")
        if not link:
            return items, pages
        assert link.startswith(url + ISSUES) or link.startswith(url + OVERVIEWS)
        response = get(link, bearer)


def small_scenario(now=None):
    """Two tenants with known issues: A sees EX1 (open, 3 h old), SP2 (resolved), the shared
    MO3; B sees TM4 and the shared MO3."""
    simulator = ServiceHealthSimulator()
    now = now or simulator.now()
    simulator.add_tenant(CONTOSO, client_id=CLIENT_ID, client_secret=SECRET)
    simulator.add_tenant(FABRIKAM, client_id=CLIENT_ID, client_secret=SECRET)

    def issue(issue_id, service_id, tenants, steps, **kwargs):
        simulator.add_issue(
            issue_id,
            service_id=service_id,
            title=f"Title of {issue_id}",
            impact_description=f"Impact of {issue_id}.",
            steps=steps,
            tenant_ids=tenants,
            **kwargs,
        )

    hours = lambda n: now - timedelta(hours=n)  # noqa: E731
    issue("EX100001", "Exchange", [CONTOSO], [(hours(3), "investigating", "Looking.")])
    issue(
        "SP100002",
        "SharePoint",
        [CONTOSO],
        [(hours(5), "serviceDegradation", "Broken."), (hours(1), "serviceRestored", "Fixed.")],
    )
    issue(
        "MO100003",
        "OSDPPlatform",
        [CONTOSO, FABRIKAM],
        [(hours(2), "investigating", "Looking."), (hours(0.5), "serviceInterruption", "Down.")],
    )
    issue("TM100004", "microsoftteams", [FABRIKAM], [(hours(4), "investigating", "Looking.")])
    return simulator


# --- tokens ------------------------------------------------------------------------------------


def test_each_tenant_gets_its_own_token_and_a_wrong_secret_is_refused(serve):
    url = serve(demo(TENANTS))
    first, second = token_response(url, CONTOSO), token_response(url, FABRIKAM)
    assert first.status_code == second.status_code == 200
    assert first.json()["token_type"] == "Bearer"
    assert first.json()["expires_in"] == 3599
    assert first.json()["access_token"] != second.json()["access_token"]

    wrong = token_response(url, CONTOSO, secret="not-the-secret")
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    assert wrong.json()["error_description"].startswith("AADSTS7000215:")

    unknown_app = token_response(url, CONTOSO, client_id="another-app")
    assert unknown_app.status_code == 400
    assert unknown_app.json()["error"] == "unauthorized_client"

    unknown_tenant = token_response(url, "99999999-9999-4999-8999-999999999999")
    assert unknown_tenant.status_code == 400
    assert unknown_tenant.json()["error_description"].startswith("AADSTS90002:")


@pytest.mark.parametrize("bearer", [None, "not-a-token-we-issued"])
def test_graph_refuses_a_missing_or_unknown_token(bearer, serve):
    url = serve(demo(TENANTS))
    response = get(url, bearer, ISSUES)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "InvalidAuthenticationToken"
    assert set(error["innerError"]) >= {"date", "request-id"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_expires_on_the_scenario_clock_and_can_be_revoked(serve):
    simulator = demo(TENANTS)
    url = serve(simulator)
    bearer = token(url, CONTOSO)
    assert get(url, bearer, ISSUES).status_code == 200
    simulator.advance(3600)
    expired = get(url, bearer, ISSUES)
    assert expired.status_code == 401
    assert "expired" in expired.json()["error"]["message"]
    fresh = token(url, CONTOSO)
    assert get(url, fresh, ISSUES).status_code == 200
    simulator.revoke_tokens(CONTOSO)
    assert get(url, fresh, ISSUES).status_code == 401


def test_a_tenant_without_consent_gets_403(serve):
    simulator = small_scenario()
    simulator.tenants[FABRIKAM].consented = False
    url = serve(simulator)
    response = get(url, token(url, FABRIKAM), ISSUES)
    assert response.status_code == 403
    assert get(url, token(url, CONTOSO), ISSUES).status_code == 200


# --- tenants -----------------------------------------------------------------------------------


def test_each_tenant_sees_only_its_own_issues(serve):
    simulator = small_scenario()
    url = serve(simulator)
    contoso, fabrikam = token(url, CONTOSO), token(url, FABRIKAM)
    assert [i["id"] for i in get(url, contoso, ISSUES).json()["value"]] == [
        "EX100001",
        "MO100003",
        "SP100002",
    ]
    assert [i["id"] for i in get(url, fabrikam, ISSUES).json()["value"]] == [
        "MO100003",
        "TM100004",
    ]
    # Another tenant's issue is not found, even by id.
    assert get(url, fabrikam, f"{ISSUES}/EX100001").status_code == 404
    assert get(url, contoso, f"{ISSUES}/EX100001").json()["id"] == "EX100001"
    # The request log knows who asked.
    assert {r[1] for r in simulator.requests_by_tenant(FABRIKAM)} == {
        f"/{FABRIKAM}/oauth2/v2.0/token",
        ISSUES,
        f"{ISSUES}/EX100001",
    }


def test_a_shared_incident_appears_in_two_feeds_with_the_same_id(serve):
    simulator = demo(TENANTS)
    url = serve(simulator)
    shared = simulator.issues["EX982143"]
    assert shared.tenant_ids == set(TENANTS)  # stored once, affecting every tenant
    feeds = {}
    for tenant_id in (CONTOSO, NORTHWIND):
        items = get(url, token(url, tenant_id), ISSUES).json()["value"]
        feeds[tenant_id] = {i["id"]: i for i in items}
    assert feeds[CONTOSO]["EX982143"] == feeds[NORTHWIND]["EX982143"]
    assert feeds[CONTOSO]["EX982143"]["service"] == "Exchange Online"
    # The feeds differ otherwise: the demo spreads the other issues over the tenants.
    assert set(feeds[CONTOSO]) != set(feeds[NORTHWIND])


def test_the_demo_covers_the_documented_vocabulary(serve):
    simulator = demo(TENANTS)
    url = serve(simulator)
    items = get(url, token(url, PARTNER), ISSUES).json()["value"]
    everything = [simulator.issue_json(i) for i in simulator.issues]
    visible = [i for i in everything if i is not None]
    assert len(simulator.issues) >= 12
    assert {i["classification"] for i in visible} == {"incident", "advisory"}
    assert {i["origin"] for i in visible} == {"microsoft", "thirdParty", "customer"}
    assert {i["status"] for i in visible} <= set(SERVICE_HEALTH_STATUSES)
    assert {"postIncidentReviewPublished", "falsePositive", "serviceOperational"} <= {
        i["status"] for i in visible
    }
    assert {p["postType"] for i in visible for p in i["posts"]} == {"regular", "quick", "strategic"}
    # The partner's own tenant has every service, so it sees more than the shared incident.
    assert len(items) > 5
    # One issue only appears a few minutes into the scenario.
    assert simulator.issue_json("PP412890") is None
    simulator.advance(4 * 60)
    assert simulator.issue_json("PP412890")["status"] == "investigating"


# --- the served JSON -----------------------------------------------------------------------------


def test_an_issue_has_the_documented_fields_and_timestamp_style(serve):
    simulator = demo(TENANTS)
    url = serve(simulator)
    issue = get(url, token(url, CONTOSO), f"{ISSUES}/EX982143").json()
    assert issue["@odata.context"].endswith("#admin/serviceAnnouncement/issues/$entity")
    # Written out here, not imported from the simulator, so the test checks it.
    documented = (
        "@odata.context startDateTime endDateTime lastModifiedDateTime title id impactDescription "
        "classification origin status service feature featureGroup isResolved highImpact details "
        "posts"
    )
    assert set(issue) == set(documented.split())
    assert issue["endDateTime"] is None and issue["isResolved"] is False
    assert issue["details"] == [{"name": "NotifyInApp", "value": "True"}]
    for post in issue["posts"]:
        assert set(post) == {"createdDateTime", "postType", "description"}
        assert post["description"]["contentType"] == "html"
        assert post["description"]["content"].startswith(f"Title: {issue['title']}")
    stamps = [issue["startDateTime"], issue["lastModifiedDateTime"]]
    stamps += [p["createdDateTime"] for p in issue["posts"]]
    for stamp in stamps:
        assert SERVICE_TIME.match(stamp), stamp
        assert parse_datetime(stamp) is not None
    # lastModifiedDateTime is the newest post's time.
    assert issue["lastModifiedDateTime"] == issue["posts"][-1]["createdDateTime"]


def test_seven_digit_timestamps_on_request(serve):
    simulator = small_scenario()
    simulator.seven_digit_times = True
    url = serve(simulator)
    issue = get(url, token(url, CONTOSO), f"{ISSUES}/EX100001").json()
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$", issue["lastModifiedDateTime"])


def test_select_returns_only_the_named_properties(serve):
    simulator = small_scenario()
    url = serve(simulator)
    items = get(url, token(url, CONTOSO), ISSUES, **{"$select": "title,status"}).json()["value"]
    assert all(set(item) == {"id", "title", "status"} for item in items)
    bad = get(url, token(url, CONTOSO), ISSUES, **{"$select": "nonsense"})
    assert bad.status_code == 400


# --- paging and filters --------------------------------------------------------------------------


def paging_scenario(count):
    simulator = ServiceHealthSimulator()
    now = simulator.now()
    simulator.add_tenant(CONTOSO, client_id=CLIENT_ID, client_secret=SECRET)
    simulator.add_tenant(FABRIKAM, client_id=CLIENT_ID, client_secret=SECRET)
    for n in range(count):
        simulator.add_issue(
            f"EX{200000 + n * 11 % count}",
            service_id="Exchange",
            title=f"Issue {n}",
            impact_description="Impact.",
            steps=[IssueStep(now - timedelta(minutes=n), "investigating", f"Post {n}.")],
            tenant_ids=[CONTOSO] if n % 4 else [CONTOSO, FABRIKAM],
        )
    simulator.add_issue(
        "TM999999",
        service_id="microsoftteams",
        title="Only Fabrikam",
        impact_description="Impact.",
        steps=[IssueStep(now, "investigating", "Post.")],
        tenant_ids=[FABRIKAM],
    )
    return simulator


def test_paging_with_top_returns_every_issue_exactly_once(serve):
    simulator = paging_scenario(23)
    url = serve(simulator)
    items, pages = walk(url, token(url, CONTOSO), **{"$top": "5"})
    ids = [item["id"] for item in items]
    assert pages == 5
    assert len(ids) == len(set(ids)) == 23
    assert set(ids) == simulator.tenants[CONTOSO].issue_ids
    assert "TM999999" not in ids
    # The next links are absolute, on the simulator's host, and keep the page size.
    links = [q for _m, path, q, _h in simulator.requests if path == ISSUES and "$skiptoken" in q]
    assert len(links) == 4 and all(q["$top"] == ["5"] for q in links)


def test_paging_is_stable_while_issues_change_between_pages(serve):
    simulator = paging_scenario(12)
    url = serve(simulator)
    bearer = token(url, CONTOSO)
    first = get(url, bearer, ISSUES, **{"$top": "4"}).json()
    # Microsoft updates an issue of the first page and one of a later page meanwhile.
    simulator.add_update(first["value"][0]["id"], "serviceDegradation", "Worse.")
    simulator.add_update("EX200011", "restoringService", "Better.")
    seen = [i["id"] for i in first["value"]]
    link = first["@odata.nextLink"]
    while link:
        page = get(link, bearer).json()
        seen += [i["id"] for i in page["value"]]
        link = page.get("@odata.nextLink")
    assert sorted(seen) == sorted(simulator.tenants[CONTOSO].issue_ids)


def test_prefer_maxpagesize_sets_the_page_size(serve):
    simulator = paging_scenario(7)
    url = serve(simulator)
    response = requests.get(
        url + ISSUES,
        headers={
            "Authorization": f"Bearer {token(url, CONTOSO)}",
            "Prefer": "odata.maxpagesize=3",
        },
        timeout=5,
    )
    assert len(response.json()["value"]) == 3
    assert response.headers["Preference-Applied"] == "odata.maxpagesize=3"
    assert "@odata.nextLink" in response.json()


def test_filter_on_last_modified_returns_only_later_modified_issues(serve):
    simulator = small_scenario()
    url = serve(simulator)
    bearer = token(url, CONTOSO)
    every = {i["id"]: i for i in get(url, bearer, ISSUES).json()["value"]}
    since = (simulator.now() - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    recent, _pages = walk(url, bearer, **{"$filter": f"lastModifiedDateTime ge {since}"})
    # EX100001 was last modified 3 h ago; SP100002 1 h ago; MO100003 30 min ago.
    assert sorted(i["id"] for i in recent) == ["MO100003", "SP100002"]
    assert all(parse_datetime(i["lastModifiedDateTime"]) >= parse_datetime(since) for i in recent)

    # A served timestamp fed back: ge includes that issue, gt excludes it.
    stamp = every["SP100002"]["lastModifiedDateTime"]
    ge = get(url, bearer, ISSUES, **{"$filter": f"lastModifiedDateTime ge {stamp}"}).json()
    gt = get(url, bearer, ISSUES, **{"$filter": f"lastModifiedDateTime gt {stamp}"}).json()
    assert [i["id"] for i in ge["value"]] == ["MO100003", "SP100002"]
    assert [i["id"] for i in gt["value"]] == ["MO100003"]


def test_filter_is_kept_across_pages(serve):
    simulator = paging_scenario(20)
    url = serve(simulator)
    since = (simulator.now() - timedelta(minutes=9, seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    items, pages = walk(
        url, token(url, CONTOSO), **{"$filter": f"lastModifiedDateTime ge {since}", "$top": "3"}
    )
    assert pages == 4
    assert len(items) == 10  # issues modified 0..9 minutes ago


@pytest.mark.parametrize(
    "clause",
    [
        "lastModifiedDateTime ge yesterday",
        "lastModifiedDateTime ge '2026-11-27T08:00:00Z'",
        "nonsense eq 'x'",
        "isResolved ge true",
    ],
)
def test_a_filter_the_simulator_cannot_read_is_a_400(clause, serve):
    url = serve(small_scenario())
    response = get(url, token(url, CONTOSO), ISSUES, **{"$filter": clause})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BadRequest"


def test_filter_on_resolution_and_service(serve):
    url = serve(small_scenario())
    bearer = token(url, CONTOSO)
    open_ = get(url, bearer, ISSUES, **{"$filter": "isResolved eq false"}).json()["value"]
    assert sorted(i["id"] for i in open_) == ["EX100001", "MO100003"]
    exchange = get(url, bearer, ISSUES, **{"$filter": "service eq 'Exchange Online'"}).json()
    assert [i["id"] for i in exchange["value"]] == ["EX100001"]


# --- the scenario clock ------------------------------------------------------------------------


def test_advance_moves_an_incident_to_resolved_with_a_new_post(serve):
    simulator = demo(TENANTS)
    url = serve(simulator)
    bearer = token(url, CONTOSO)
    before = get(url, bearer, f"{ISSUES}/EX982143").json()
    assert before["status"] == "serviceDegradation"
    assert before["isResolved"] is False and before["endDateTime"] is None
    assert len(before["posts"]) == 2

    simulator.advance(3 * 60)
    middle = get(url, bearer, f"{ISSUES}/EX982143").json()
    assert middle["status"] == "restoringService" and middle["isResolved"] is False

    simulator.advance(4 * 60)
    after = get(url, bearer, f"{ISSUES}/EX982143").json()
    assert after["status"] == "serviceRestored"
    assert after["isResolved"] is True
    assert after["endDateTime"] == after["lastModifiedDateTime"]
    assert len(after["posts"]) == 4
    assert after["posts"][:2] == before["posts"]  # history is kept, posts are only added
    assert "This is the final update for the event." in after["posts"][-1]["description"]["content"]
    assert parse_datetime(after["posts"][-1]["createdDateTime"]) > parse_datetime(
        before["posts"][-1]["createdDateTime"]
    )
    assert modified(after) > modified(before)
    # The overview follows: Exchange is operational again for this tenant.
    assert overview_status(url, bearer, "Exchange") == "serviceOperational"


def test_add_update_posts_now_and_moves_last_modified(serve):
    simulator = small_scenario()
    url = serve(simulator)
    bearer = token(url, FABRIKAM)
    before = get(url, bearer, f"{ISSUES}/TM100004").json()
    simulator.advance(90)
    simulator.add_update("TM100004", "serviceRestored", "Fixed now.")
    after = get(url, bearer, f"{ISSUES}/TM100004").json()
    assert after["isResolved"] is True and after["status"] == "serviceRestored"
    assert after["posts"][-1]["description"]["content"] == "Fixed now."
    assert modified(after) - modified(before) >= timedelta(hours=4)


def test_an_issue_is_worked_out_once_between_its_steps_and_again_after_an_update():
    simulator = small_scenario()
    before = simulator.state("TM100004")
    assert before.status != "serviceRestored"
    assert simulator.state("TM100004") is before  # no step since: the state already worked out
    simulator.add_update("TM100004", "serviceRestored", "Fixed now.")
    after = simulator.state("TM100004")
    assert after is not before
    assert (after.status, after.is_resolved) == ("serviceRestored", True)
    assert after.posts[-1].content == "Fixed now."


# --- health overviews -----------------------------------------------------------------------------


def test_health_overviews_with_issues_show_the_worst_unresolved_incident(serve):
    simulator = ServiceHealthSimulator()
    now = simulator.now()
    simulator.add_tenant(
        CONTOSO,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        services=["Exchange", "microsoftteams", "SharePoint"],
    )
    simulator.add_tenant(FABRIKAM, client_id=CLIENT_ID, client_secret=SECRET)
    hour = timedelta(hours=1)
    for issue_id, service_id, steps, classification in [
        ("EX300001", "Exchange", [(now - hour, "investigating", "a")], "incident"),
        ("EX300002", "Exchange", [(now - hour, "serviceInterruption", "b")], "incident"),
        ("EX300003", "Exchange", [(now - 2 * hour, "serviceRestored", "c")], "incident"),
        ("TM300004", "microsoftteams", [(now - hour, "serviceDegradation", "d")], "advisory"),
    ]:
        simulator.add_issue(
            issue_id,
            service_id=service_id,
            title=issue_id,
            impact_description="Impact.",
            steps=steps,
            classification=classification,
            tenant_ids=[CONTOSO],
        )
    url = serve(simulator)
    response = get(url, token(url, CONTOSO), OVERVIEWS, **{"$expand": "issues"}).json()
    assert response["@odata.context"].endswith("healthOverviews(issues())")
    by_id = {o["id"]: o for o in response["value"]}
    assert list(by_id) == ["Exchange", "microsoftteams", "SharePoint"]
    assert by_id["Exchange"]["service"] == "Exchange Online"
    assert by_id["Exchange"]["status"] == "serviceInterruption"
    assert by_id["microsoftteams"]["status"] == "serviceOperational"  # advisories do not count
    assert by_id["SharePoint"]["status"] == "serviceOperational"
    assert [i["id"] for i in by_id["Exchange"]["issues"]] == ["EX300001", "EX300002", "EX300003"]
    assert [i["id"] for i in by_id["SharePoint"]["issues"]] == []
    # Without $expand there are no issues; another tenant is all operational.
    plain = get(url, token(url, CONTOSO), OVERVIEWS).json()["value"]
    assert all("issues" not in o for o in plain)
    other = get(url, token(url, FABRIKAM), OVERVIEWS).json()["value"]
    assert {o["status"] for o in other} == {"serviceOperational"}
    assert len(other) == 10
    # One service, by id or by name, and its issues.
    one = get(url, token(url, CONTOSO), f"{OVERVIEWS}/Exchange Online").json()
    assert one["id"] == "Exchange" and one["status"] == "serviceInterruption"
    issues = get(url, token(url, CONTOSO), f"{OVERVIEWS}/Exchange/issues").json()["value"]
    assert len(issues) == 3


# --- faults --------------------------------------------------------------------------------------


def test_fail_next_429_with_retry_after_then_recovers(serve):
    simulator = demo(TENANTS)
    url = serve(simulator)
    bearer = token(url, CONTOSO)
    simulator.fail_next("/v1.0/", 429, {"Retry-After": "7"})
    throttled = get(url, bearer, ISSUES)
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "7"
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    assert get(url, bearer, ISSUES).status_code == 200


def test_fail_next_with_a_truncated_body(serve):
    simulator = demo(TENANTS)
    url = serve(simulator)
    bearer = token(url, CONTOSO)
    simulator.fail_next(ISSUES, 200, body=b'{"value": [{"id": "EX98')
    broken = get(url, bearer, ISSUES)
    assert broken.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.content)
    # Or the real answer, cut short (Content-Length says so: a proxy that gave up).
    simulator.fail_next(ISSUES, 200, truncate_to=80)
    cut = get(url, bearer, ISSUES)
    assert len(cut.content) == 80
    assert cut.content.startswith(b'{"@odata.context": "https://graph.microsoft.com/v1.0/')
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.content)
    assert get(url, bearer, ISSUES).json()["value"]


def test_fail_next_scoped_to_one_tenant(serve):
    simulator = demo(TENANTS)
    url = serve(simulator)
    contoso, fabrikam = token(url, CONTOSO), token(url, FABRIKAM)
    simulator.fail_next("/v1.0/", 503, {"Retry-After": "1"}, tenant_id=FABRIKAM)
    assert get(url, contoso, ISSUES).status_code == 200  # not Fabrikam's: not consumed
    failed = get(url, fabrikam, ISSUES)
    assert failed.status_code == 503
    assert failed.json()["error"]["code"] == "ServiceNotAvailable"
    assert get(url, fabrikam, ISSUES).status_code == 200
    # The token endpoint can fail for one tenant too.
    simulator.fail_next("/", 500, tenant_id=CONTOSO)
    assert token_response(url, FABRIKAM).status_code == 200
    assert token_response(url, CONTOSO).status_code == 500


def test_a_slow_answer_is_delayed(serve):
    simulator = small_scenario()
    url = serve(simulator)
    bearer = token(url, CONTOSO)
    simulator.fail_next(ISSUES, 200, delay=0.3)
    started = time.monotonic()
    assert get(url, bearer, ISSUES).status_code == 200
    assert time.monotonic() - started >= 0.3


# --- unknown enum values ---------------------------------------------------------------------------


def test_unknown_enum_values_can_be_injected(serve):
    simulator = demo(TENANTS)
    url = serve(simulator)
    tenant_id = sorted(simulator.issues["DZ775309"].tenant_ids)[0]
    bearer = token(url, tenant_id)
    before = get(url, bearer, f"{ISSUES}/DZ775309").json()
    simulator.advance(1)
    simulator.inject_unknown_enum("DZ775309", origin="someFutureOrigin")
    after = get(url, bearer, f"{ISSUES}/DZ775309").json()
    assert after["status"] == "someFutureStatus"
    assert after["origin"] == "someFutureOrigin"
    assert after["posts"][-1]["postType"] == "someFuturePostType"
    assert len(after["posts"]) == len(before["posts"]) + 1
    assert after["isResolved"] is False  # an unknown status leaves resolution as it was
    assert modified(after) > modified(before)
    raw = get(url, bearer, ISSUES).text
    assert '"status": "someFutureStatus"' in raw
    # The overview shows the value as sent rather than calling the service healthy.
    assert overview_status(url, bearer, "Microsoft365Defender") == "someFutureStatus"


# --- the request log -----------------------------------------------------------------------------


def test_requests_are_logged_with_method_path_query_and_headers(serve):
    simulator = small_scenario()
    url = serve(simulator)
    bearer = token(url, CONTOSO)
    get(url, bearer, ISSUES, **{"$top": "1"})
    method, path, query, headers = simulator.requests[-1]
    assert (method, path, query) == ("GET", ISSUES, {"$top": ["1"]})
    assert headers["Authorization"] == f"Bearer {bearer}"
    assert simulator.requests[0][0] == "POST"


# --- the portal's own client -----------------------------------------------------------------------


def test_the_portal_graph_client_reads_two_tenants_through_throttling(serve):
    from core.outbound import graph_client
    from outbound.graph import GraphConnection, clear_token_cache

    simulator = paging_scenario(9)
    url = serve(simulator)
    clear_token_cache()
    try:
        seen, waits = {}, []
        for tenant_id in (CONTOSO, FABRIKAM):
            connection = GraphConnection(
                base_url=f"{url}/v1.0",
                token_url=url + "/{tenant_id}/oauth2/v2.0/token",
                tenant_id=tenant_id,
                client_id=CLIENT_ID,
                client_secret=SECRET,
            )
            simulator.fail_next("/v1.0/", 429, {"Retry-After": "2.5"}, tenant_id=tenant_id)
            client = graph_client(connection, sleep=waits.append)
            items = client.get_collection("/admin/serviceAnnouncement/issues", {"$top": "2"})
            seen[tenant_id] = [item["id"] for item in items]
        assert waits == [2.5, 2.5]
        assert sorted(seen[CONTOSO]) == sorted(simulator.tenants[CONTOSO].issue_ids)
        assert sorted(seen[FABRIKAM]) == sorted(simulator.tenants[FABRIKAM].issue_ids)
        assert "TM999999" in seen[FABRIKAM] and "TM999999" not in seen[CONTOSO]
    finally:
        clear_token_cache()


# --- bulk ----------------------------------------------------------------------------------------


def test_bulk_builds_fast_and_serves_a_page(serve):
    started = time.perf_counter()
    simulator = bulk(200, 100, 5)
    assert time.perf_counter() - started < 3
    assert len(simulator.tenants) == 200
    assert all(len(t.issue_ids) == 100 for t in simulator.tenants.values())
    assert max(len(i.tenant_ids) for i in simulator.issues.values()) > 1  # shared issues

    url = serve(simulator)
    tenant_id = list(simulator.tenants)[57]
    bearer = token(url, tenant_id)
    started = time.perf_counter()
    page = get(url, bearer, ISSUES, **{"$top": "40"}).json()
    assert time.perf_counter() - started < 2
    assert len(page["value"]) == 40
    assert all(len(item["posts"]) == 5 for item in page["value"])
    assert "@odata.nextLink" in page
    items, pages = walk(url, bearer)
    assert (len(items), pages) == (100, 1)  # the default page size is 100
    overviews = get(url, bearer, OVERVIEWS, **{"$expand": "issues"}).json()["value"]
    assert sum(len(o["issues"]) for o in overviews) == 100
    # Deterministic: a second build serves the same issues to the same tenant.
    again = bulk(200, 100, 5, base=simulator.now())
    assert again.tenants[tenant_id].issue_ids == simulator.tenants[tenant_id].issue_ids


def test_every_served_timestamp_parses(serve):
    simulator = demo(TENANTS)
    url = serve(simulator)
    simulator.advance(20 * 60)  # every scheduled step has happened
    items = get(url, token(url, PARTNER), ISSUES).json()["value"]
    stamps = [
        value
        for item in items
        for value in [
            item["startDateTime"],
            item["endDateTime"],
            item["lastModifiedDateTime"],
            *(p["createdDateTime"] for p in item["posts"]),
        ]
        if value is not None
    ]
    assert stamps
    assert all(SERVICE_TIME.match(s) and parse_datetime(s) for s in stamps)
    assert all(parse_datetime(s) <= datetime.now(UTC) + timedelta(minutes=21) for s in stamps)


def test_latency_makes_every_answer_wait(serve):
    waits = []
    simulator = ServiceHealthSimulator(latency=0.25, sleep=waits.append)
    simulator.add_service("Exchange", "Exchange Online")
    simulator.add_tenant(CONTOSO, client_id=CLIENT_ID, client_secret=SECRET, services=["Exchange"])
    url = serve(simulator)
    bearer = token(url, CONTOSO)
    assert get(url, bearer, OVERVIEWS).status_code == 200
    assert get(url, bearer, ISSUES).status_code == 200
    assert waits == [0.25, 0.25, 0.25]  # the token, the overviews, the issues
    assert bulk(2, 1, 1, latency=0.1).latency == 0.1
