"""The Partner Center service-request simulator over real HTTP on loopback: shapes against
Microsoft's documented samples, validation, idempotency, the status lifecycle, faults, auth.
No database."""

import json
import re
import threading
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests

from simulators.http import SimulatorServer
from simulators.partner_center.model import DEFAULT_TOKEN, NEVER, SUPPORT_TOPICS, ScheduleStep
from simulators.partner_center.server import PartnerCenterSimulator

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "partner-center"
AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
PC_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$")
NOTE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?$")
CONTOSO = "11111111-1111-4111-8111-111111111111"
FABRIKAM = "22222222-2222-4222-8222-222222222222"

# The request bodies in Microsoft's samples carry every property, those a request leaves unset
# at their defaults.
_REQUEST_DEFAULTS = {
    **dict.fromkeys(("Id", "Title", "Description", "SupportTopicId", "SupportTopicName")),
    **dict.fromkeys(("Organization", "PrimaryContact", "LastUpdatedBy", "ProductName")),
    **dict.fromkeys(("ProductId", "NewNote", "Notes", "CountryCode", "FileLinks")),
    **dict.fromkeys(("CreatedDate", "LastModifiedDate", "LastClosedDate"), "0001-01-01T00:00:00"),
    "Severity": "unknown",
    "Status": "none",
    "Attributes": {"ObjectType": "ServiceRequest"},
}

# Microsoft's samples (the files in REFERENCE, parsed), so that each test reads as its own
# fixture; test_embedded_samples_match_reference keeps them equal to the files.
SAMPLES = {
    "partnercenter-servicerequest-create-request.json": {
        **_REQUEST_DEFAULTS,
        "Title": "TrialSR",
        "Description": "Ignore this SR",
        "Severity": "critical",
        "SupportTopicId": "32444671",
    },
    "partnercenter-servicerequest-create-response.json": {
        "title": "TrialSR",
        "description": "Ignore this SR",
        "severity": "critical",
        "supportTopicId": "32444671",
        "id": "616122292874576",
        "status": "none",
        "organization": {
            "id": "3b33e682-00c3-41ee-9dd2-a548adf56438",
            "name": "TEST_TEST_BugBash1",
            "phoneNumber": "2398391056",
        },
        "primaryContact": {
            "organization": {
                "id": "3b33e682-00c3-41ee-9dd2-a548adf56438",
                "name": "TEST_TEST_BugBash1",
                "phoneNumber": "2398391056",
            },
            "contactId": "bb4ebcf5-d84c-4b35-8469-f4cfa4ac909e",
            "lastName": "Account",
            "email": "admin@testtestbugbash1.onmicrosoft.com",
            "phoneNumber": "2066017143",
        },
        "createdDate": "0001-01-01T00:00:00",
        "lastModifiedDate": "0001-01-01T00:00:00",
        "lastClosedDate": "0001-01-01T00:00:00",
        "countryCode": "US",
        "attributes": {"objectType": "ServiceRequest"},
    },
    "partnercenter-servicerequest-get.json": {
        "title": "TrialSR",
        "description": "Ignore this SR",
        "severity": "critical",
        "supportTopicId": "32444671",
        "supportTopicName": "Cannot manage my profile",
        "id": "616122292874576",
        "status": "open",
        "organization": {
            "id": "3b33e682-00c3-41ee-9dd2-a548adf56438",
            "name": "TEST_TEST_BugBash1",
        },
        "productId": "15960",
        "createdDate": "2016-12-22T20:31:17.24Z",
        "lastModifiedDate": "2017-01-09T23:31:15.373Z",
        "lastClosedDate": "0001-01-01T00:00:00",
        "notes": [
            {
                "createdByName": "Account",
                "createdDate": "2017-01-09T23:31:15.373",
                "text": "Sample Note",
            }
        ],
        "attributes": {"objectType": "ServiceRequest"},
    },
    "partnercenter-servicerequest-update-request.json": {
        **_REQUEST_DEFAULTS,
        "NewNote": {"CreatedByName": None, "CreatedDate": None, "Text": "Sample Note"},
    },
    "partnercenter-servicerequests-list-customer.json": {
        "totalCount": 1,
        "items": [
            {
                "title": "Test",
                "severity": 0,
                "id": "615112491169010",
                "status": 1,
                "primaryContact": {"lastName": "LastName", "firstName": "FirstName"},
                "createdDate": "2015-11-24T01:07:00.863",
                "lastModifiedDate": "2015-11-24T01:17:10.61",
                "lastClosedDate": "0001-01-01T00:00:00",
                "attributes": {"objectType": "ServiceRequest"},
            }
        ],
        "attributes": {"objectType": "Collection"},
    },
    "partnercenter-supporttopics-list.json": {
        "totalCount": 14,
        "items": [
            {
                "name": "Partner Center Issues",
                "description": "Office 365 questions from the CSP (Cloud Solution Provider) partners using Partner Center",
                "id": 32444667,
                "attributes": {"objectType": "SupportTopic"},
            },
            {
                "name": "Cannot manage my profile",
                "description": "Issues that are related to errors or problems with managing a profile",
                "id": 32444671,
                "attributes": {"objectType": "SupportTopic"},
            },
        ],
        "attributes": {"objectType": "Collection"},
    },
}


def sample(name):
    return json.loads(json.dumps(SAMPLES[name]))


CREATE_REQUEST = "partnercenter-servicerequest-create-request.json"
CREATE_RESPONSE = "partnercenter-servicerequest-create-response.json"
GET_RESPONSE = "partnercenter-servicerequest-get.json"
UPDATE_REQUEST = "partnercenter-servicerequest-update-request.json"
CUSTOMER_LIST = "partnercenter-servicerequests-list-customer.json"
TOPICS_LIST = "partnercenter-supporttopics-list.json"


@pytest.fixture
def serve():
    """``serve(simulator)`` runs it on a free loopback port and returns its base URL."""
    with ExitStack() as running:
        yield lambda simulator: running.enter_context(SimulatorServer(simulator)).url


@pytest.fixture
def sim():
    return PartnerCenterSimulator(seed=7)


@pytest.fixture
def url(serve, sim):
    return serve(sim)


def create(url, body=None, headers=None, timeout=5, locale="en-US"):
    return requests.post(
        f"{url}/v1/servicerequests/{locale}",
        json=sample(CREATE_REQUEST) if body is None else body,
        headers={**AUTH, **(headers or {})},
        timeout=timeout,
    )


def get(url, path, headers=None, timeout=5):
    return requests.get(f"{url}{path}", headers={**AUTH, **(headers or {})}, timeout=timeout)


def patch(url, request_id, body, headers=None):
    return requests.patch(
        f"{url}/v1/servicerequests/{request_id}",
        json=body,
        headers={**AUTH, **(headers or {})},
        timeout=5,
    )


def update_body(**changes):
    body = sample(UPDATE_REQUEST)
    body.update(changes)
    return body


# --- the samples ---------------------------------------------------------------------------------


def test_embedded_samples_match_reference():
    for name, data in SAMPLES.items():
        assert json.loads((REFERENCE / name).read_text()) == data, name


# --- shapes ---------------------------------------------------------------------------------------


def test_create_answers_201_in_the_documented_shape(url, sim):
    response = create(url)
    assert response.status_code == 201, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    expected = sample(CREATE_RESPONSE)
    # PascalCase in, camelCase out: exactly the sample's keys, nested ones too.
    assert list(body) == list(expected)
    assert set(body["organization"]) == set(expected["organization"])
    assert set(body["primaryContact"]) == set(expected["primaryContact"])
    assert set(body["primaryContact"]["organization"]) == set(
        expected["primaryContact"]["organization"]
    )
    assert body["attributes"] == {"objectType": "ServiceRequest"}
    assert body["title"] == "TrialSR"
    assert body["description"] == "Ignore this SR"
    assert body["severity"] == "critical"
    assert body["supportTopicId"] == "32444671"
    assert body["status"] == "none"  # as in the sample; "open" from then on
    assert body["countryCode"] == "US"
    assert re.fullmatch(r"6\d{14}", body["id"])
    assert PC_TIME.match(body["createdDate"]) and PC_TIME.match(body["lastModifiedDate"])
    assert body["lastClosedDate"] == NEVER
    assert [sr.id for sr in sim.created] == [body["id"]]
    method, path, headers, raw = sim.requests[-1]
    assert (method, path) == ("POST", "/v1/servicerequests/en-US")
    assert headers["authorization"] == AUTH["Authorization"]
    assert json.loads(raw) == sample(CREATE_REQUEST)


def test_get_answers_the_documented_shape_and_is_open(url):
    request_id = create(url).json()["id"]
    response = get(url, f"/v1/servicerequests/{request_id}")
    assert response.status_code == 200, response.text
    body = response.json()
    expected = sample(GET_RESPONSE)
    assert set(expected) <= set(body)
    # The GET sample's request had no contact; ours has one (and a country code).
    assert set(body) - set(expected) <= {"primaryContact", "countryCode"}
    assert set(body["organization"]) == set(expected["organization"])
    assert body["status"] == "open"
    assert body["supportTopicName"] == "Cannot manage my profile"
    assert body["productId"] == "15960"
    assert body["notes"] == []
    assert body["lastClosedDate"] == NEVER
    assert body["attributes"] == {"objectType": "ServiceRequest"}


def test_patch_adds_a_note_and_unknown_none_change_nothing(url):
    created = create(url).json()
    response = patch(url, created["id"], sample(UPDATE_REQUEST))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(sample(GET_RESPONSE)) <= set(body)
    assert body["severity"] == "critical"  # "unknown": no change
    assert body["status"] == "open"  # "none": no change
    [note] = body["notes"]
    assert set(note) == set(sample(GET_RESPONSE)["notes"][0])
    assert note["text"] == "Sample Note"
    assert note["createdByName"] == "Account"  # the primary contact, as in the sample
    assert NOTE_TIME.match(note["createdDate"])
    assert get(url, f"/v1/servicerequests/{created['id']}").json() == body


def test_patch_changes_severity_and_closes(url):
    request_id = create(url).json()["id"]
    body = patch(url, request_id, update_body(Severity="minimal", NewNote=None)).json()
    assert body["severity"] == "minimal"
    assert body["notes"] == []
    body = patch(url, request_id, update_body(Status="closed", NewNote=None)).json()
    assert body["status"] == "closed"
    assert PC_TIME.match(body["lastClosedDate"])
    assert get(url, f"/v1/servicerequests/{request_id}").json()["status"] == "closed"


def test_patch_refuses_bad_values(url):
    request_id = create(url).json()["id"]
    for changes in (
        {"Severity": "urgent"},
        {"Status": "attention_needed"},
        {"NewNote": {"Text": ""}},
    ):
        response = patch(url, request_id, update_body(**changes))
        assert response.status_code == 400, changes
        assert next(iter(changes)) in response.json()["description"]


def test_lists_partner_and_customer_requests(url, sim):
    mine = create(url).json()["id"]
    seeded = sim.add_request(title="Customer problem", customer_tenant_id=CONTOSO)
    sim.add_request(title="Other customer", customer_tenant_id=FABRIKAM)
    sim.assign_customer(mine, CONTOSO)

    everything = get(url, "/v1/servicerequests").json()
    expected = sample(CUSTOMER_LIST)
    assert list(everything) == list(expected)
    assert everything["totalCount"] == 3 == len(everything["items"])
    assert everything["attributes"] == {"objectType": "Collection"}
    for item in everything["items"]:
        assert list(item) == list(expected["items"][0])
        assert set(item["primaryContact"]) <= set(expected["items"][0]["primaryContact"])
        assert isinstance(item["severity"], str) and isinstance(item["status"], str)

    contoso = get(url, f"/v1/customers/{CONTOSO}/servicerequests").json()
    assert contoso["totalCount"] == 2
    assert {item["id"] for item in contoso["items"]} == {mine, seeded.id}
    assert contoso["items"][0]["status"] == "open"
    nobody = get(url, "/v1/customers/33333333-3333-4333-8333-333333333333/servicerequests")
    assert nobody.json() == {"totalCount": 0, "items": [], "attributes": expected["attributes"]}


def test_numeric_enums_option(serve):
    sim = PartnerCenterSimulator(numeric_enums=True)
    url = serve(sim)
    request_id = create(url).json()["id"]  # critical, open
    sim.add_request(severity="minimal", status="closed", customer_tenant_id=CONTOSO)
    sim.add_request(severity="moderate", status="attention_needed", customer_tenant_id=CONTOSO)
    items = get(url, "/v1/servicerequests").json()["items"]
    assert [(i["severity"], i["status"]) for i in items] == [(1, 1), (3, 2), (2, 3)]
    customer = get(url, f"/v1/customers/{CONTOSO}/servicerequests").json()
    assert set(customer["items"][0]) == set(sample(CUSTOMER_LIST)["items"][0])
    # A single request keeps the names.
    assert get(url, f"/v1/servicerequests/{request_id}").json()["severity"] == "critical"


def test_support_topics(url):
    response = get(url, "/v1/servicerequests/supporttopics")
    assert response.status_code == 200
    body = response.json()
    expected = sample(TOPICS_LIST)
    assert list(body) == list(expected)
    assert body["totalCount"] == expected["totalCount"] == 14 == len(body["items"])
    for item in body["items"]:
        assert list(item) == list(expected["items"][0])
        assert isinstance(item["id"], int)
        assert item["name"] and item["description"]
    assert len({item["id"] for item in body["items"]}) == 14
    for documented in expected["items"]:
        assert documented in body["items"]
    assert len(SUPPORT_TOPICS) == 14


def test_every_topic_can_be_used(url):
    for topic_id, name, _description, _product in SUPPORT_TOPICS:
        body = sample(CREATE_REQUEST) | {"SupportTopicId": str(topic_id)}
        request_id = create(url, body).json()["id"]
        served = get(url, f"/v1/servicerequests/{request_id}").json()
        assert served["supportTopicName"] == name


# --- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"Title": None}, "Title"),
        ({"Title": "   "}, "Title"),
        ({"Description": ""}, "Description"),
        ({"Description": None}, "Description"),
        ({"Severity": "urgent"}, "Severity"),
        ({"Severity": "unknown"}, "Severity"),
        ({"Severity": None}, "Severity"),
        ({"SupportTopicId": "99999999"}, "SupportTopicId"),
        ({"SupportTopicId": None}, "SupportTopicId"),
    ],
)
def test_create_validation(url, sim, changes, field):
    response = create(url, sample(CREATE_REQUEST) | changes)
    assert response.status_code == 400
    error = response.json()
    assert set(error) == {"code", "description", "data", "source"}
    assert field in error["description"]
    assert sim.created == []


def test_create_refuses_a_body_that_is_not_json(url, sim):
    response = requests.post(
        f"{url}/v1/servicerequests/en-US",
        data=b"{not json",
        headers={**AUTH, "Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 400
    assert sim.created == []


def test_unknown_request_and_route(url):
    missing = get(url, "/v1/servicerequests/612345678901234")
    assert missing.status_code == 404
    assert missing.json()["source"] == "PartnerFD"
    assert get(url, "/v1/nothing").status_code == 404


# --- idempotency ----------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["MS-RequestId", "Idempotency-Key"])
def test_same_key_twice_creates_one_request(url, sim, header):
    key = "0f4a3a4e-8d0b-4a5c-9f7e-3c2b1a000001"
    first = create(url, headers={header: key})
    second = create(url, headers={header: key})
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert len(sim.created) == 1
    assert sim.created_count(key) == 1
    assert sim.post_count(key) == 2
    other = create(url, headers={header: "another-key"})
    assert other.json()["id"] != first.json()["id"]
    assert len(sim.created) == 2


def test_concurrent_repeats_create_one_request(url, sim):
    answers = []

    def post():
        answers.append(create(url, headers={"MS-RequestId": "same-for-all"}).json()["id"])

    threads = [threading.Thread(target=post) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 10 and len(set(answers)) == 1
    assert len(sim.created) == 1 and sim.created_count("same-for-all") == 1


def test_a_lost_answer_then_a_retry_delivers_exactly_once(url, sim):
    sim.fail_next("/v1/servicerequests", 500, method="POST", after=True)
    lost = create(url, headers={"Idempotency-Key": "k-1"})
    assert lost.status_code == 500
    assert len(sim.created) == 1  # it was created all the same
    retry = create(url, headers={"Idempotency-Key": "k-1"})
    assert retry.status_code == 201
    assert retry.json()["id"] == sim.created[0].id
    assert sim.created_count("k-1") == 1


def test_a_failed_create_does_not_use_up_the_key(url, sim):
    sim.fail_next("/v1/servicerequests/en-US", 503)
    assert create(url, headers={"MS-RequestId": "k-2"}).status_code == 503
    assert sim.created == []
    assert (
        create(
            url, body=sample(CREATE_REQUEST) | {"Title": ""}, headers={"MS-RequestId": "k-2"}
        ).status_code
        == 400
    )
    assert create(url, headers={"MS-RequestId": "k-2"}).status_code == 201
    assert sim.created_count("k-2") == 1


def test_patch_with_the_same_key_adds_one_note(url):
    request_id = create(url).json()["id"]
    for _ in range(2):
        response = patch(url, request_id, sample(UPDATE_REQUEST), {"MS-RequestId": "note-1"})
        assert response.status_code == 200
    assert len(get(url, f"/v1/servicerequests/{request_id}").json()["notes"]) == 1


# --- lifecycle ----------------------------------------------------------------------------------


def test_default_progression_with_the_clock(url, sim):
    request_id = create(url).json()["id"]
    path = f"/v1/servicerequests/{request_id}"
    sim.advance(599)
    assert get(url, path).json()["status"] == "open"
    sim.advance(2)
    body = get(url, path).json()
    assert body["status"] == "attention_needed"
    [note] = body["notes"]
    assert note["createdByName"] == "Microsoft Support"
    assert "information" in note["text"]
    assert PC_TIME.match(body["lastModifiedDate"])
    # The partner answers: back to open.
    answer = update_body(NewNote={"CreatedByName": None, "CreatedDate": None, "Text": "UPNs: ..."})
    assert patch(url, request_id, answer).json()["status"] == "open"
    sim.advance(1200)
    body = get(url, path).json()
    assert body["status"] == "closed"
    assert body["lastClosedDate"] != NEVER
    assert [n["createdByName"] for n in body["notes"]] == [
        "Microsoft Support",
        "Account",
        "Microsoft Support",
    ]
    assert sim.status_of(request_id) == "closed"


def test_list_follows_the_clock(url, sim):
    create(url)
    sim.advance(601)
    [item] = get(url, "/v1/servicerequests").json()["items"]
    assert item["status"] == "attention_needed"


def test_a_closed_request_drops_its_schedule(url, sim):
    request_id = create(url).json()["id"]
    patch(url, request_id, update_body(Status="closed", NewNote=None))
    sim.advance(3600)
    body = get(url, f"/v1/servicerequests/{request_id}").json()
    assert body["status"] == "closed" and body["notes"] == []


def test_configurable_schedules(serve):
    sim = PartnerCenterSimulator(schedule=[(60, "attention_needed", "Need logs."), (120, "open")])
    url = serve(sim)
    request_id = create(url).json()["id"]
    sim.advance(61)
    assert sim.status_of(request_id) == "attention_needed"
    sim.advance(60)
    assert sim.status_of(request_id) == "open"
    sim.set_schedule(request_id, [ScheduleStep(300, "closed", "Done.")])  # from creation
    sim.advance(170)
    assert sim.status_of(request_id) == "open"
    sim.advance(10)
    assert sim.status_of(request_id) == "closed"
    assert sim.request_json(request_id)["notes"][-1]["text"] == "Done."


def test_set_status_hook(url, sim):
    request_id = create(url).json()["id"]
    sim.set_status(request_id, "attention_needed", note="Please call us.")
    body = get(url, f"/v1/servicerequests/{request_id}").json()
    assert body["status"] == "attention_needed"
    assert body["notes"][-1] == {
        "createdByName": "Microsoft Support",
        "createdDate": body["notes"][-1]["createdDate"],
        "text": "Please call us.",
    }
    sim.set_status(request_id, "closed")
    assert get(url, f"/v1/servicerequests/{request_id}").json()["lastClosedDate"] != NEVER
    with pytest.raises(ValueError):
        sim.set_status(request_id, "resolved")


# --- faults -------------------------------------------------------------------------------------


def test_throttling_with_retry_after(url, sim):
    sim.fail_next("/v1/servicerequests", 429, headers={"Retry-After": "3"})
    throttled = create(url)
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "3"
    assert set(throttled.json()) == {"code", "description", "data", "source"}
    assert sim.created == []
    assert create(url).status_code == 201


def test_server_errors_and_custom_bodies(url, sim):
    sim.fail_next("/v1/servicerequests", 500, times=2)
    sim.fail_next("/v1/servicerequests", 400, body={"code": 2000, "description": "Nope."})
    assert create(url).status_code == 500
    assert get(url, "/v1/servicerequests").status_code == 500
    bad = get(url, "/v1/servicerequests")
    assert bad.status_code == 400 and bad.json()["description"] == "Nope."
    assert get(url, "/v1/servicerequests").status_code == 200


def test_faults_only_hit_their_prefix_and_method(url, sim):
    sim.fail_next("/v1/customers/", 503)
    sim.fail_next("/v1/servicerequests", 502, method="PATCH")
    assert get(url, "/v1/servicerequests").status_code == 200
    request_id = create(url).json()["id"]
    assert patch(url, request_id, sample(UPDATE_REQUEST)).status_code == 502
    assert get(url, f"/v1/customers/{CONTOSO}/servicerequests").status_code == 503
    assert sim.faults == []


def test_a_hang_makes_the_client_time_out(url, sim):
    sim.fail_next("/v1/servicerequests", 200, delay=5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        get(url, "/v1/servicerequests", timeout=0.3)
    sim.release()
    assert get(url, "/v1/servicerequests").status_code == 200


def test_correlation_headers_are_echoed(url):
    response = get(url, "/v1/servicerequests", {"MS-CorrelationId": "c-1", "MS-RequestId": "r-1"})
    assert response.headers["MS-CorrelationId"] == "c-1"
    assert response.headers["MS-RequestId"] == "r-1"


# --- auth ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", "Basic abc", "Bearer "])
def test_unauthorised(url, sim, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = requests.post(
        f"{url}/v1/servicerequests/en-US", json=sample(CREATE_REQUEST), headers=headers, timeout=5
    )
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == 401 and body["description"]
    assert sim.created == []


def test_configured_or_any_token(serve):
    url = serve(PartnerCenterSimulator(token="my-token"))
    headers = {"Authorization": "Bearer my-token"}
    assert requests.get(f"{url}/v1/servicerequests", headers=headers, timeout=5).ok
    assert get(url, "/v1/servicerequests").status_code == 401
    anything = serve(PartnerCenterSimulator(token=None))
    headers = {"Authorization": "Bearer whatever"}
    assert requests.get(f"{anything}/v1/servicerequests", headers=headers, timeout=5).ok
