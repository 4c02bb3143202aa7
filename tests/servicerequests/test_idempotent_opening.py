"""An ``Idempotency-Key`` sent twice at the same time opens one request: the key's row is written
last, with the answer, so the second waits on the unique index, rolls its own work back and
replays the first's answer."""

import json
import threading

import pytest
from django.db import connection, connections

from core.models import AuditEntry
from servicerequests.idempotency import fingerprint
from servicerequests.models import ApiIdempotencyKey, Delivery, ServiceRequest
from tests.customers.factories import CustomerFactory
from tests.servicerequests.test_api import LIST_URL, payload, post
from tests.servicerequests.test_api import route as route  # a fixture, used by name
from tests.waiting import poll_until

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "psa-ticket-7001"


def waiting_on_a_lock(own_pid):
    """Whether another backend of this database waits for a transaction to end."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> %s AND wait_event = 'transactionid'",
            [own_pid],
        )
        return cursor.fetchone()[0] > 0


class FirstRequest(threading.Thread):
    """Another request with the same key and body: its key's row written, not yet committed.
    It commits once the request under test waits for it on the unique index."""

    def __init__(self, user, body):
        super().__init__(daemon=True)
        self.user, self.body = user, body
        self.inserted = threading.Event()
        self.error = None

    def run(self):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                own_pid = cursor.fetchone()[0]
            connection.set_autocommit(False)
            ApiIdempotencyKey.objects.create(
                user=self.user,
                key=KEY,
                fingerprint=fingerprint(self),
                status_code=201,
                response_body=json.dumps({"number": "SR-424242"}),
                response_headers={
                    "Location": "http://testserver/api/v1/service-requests/SR-424242/"
                },
            )
            self.inserted.set()
            if not poll_until(lambda: waiting_on_a_lock(own_pid), timeout=30, interval=0.01):
                raise AssertionError("the duplicate never waited for this transaction's lock")
            connection.commit()
        except Exception as exc:  # reported by the test
            self.error = exc
            self.inserted.set()
        finally:
            connection.set_autocommit(True)
            connections.close_all()

    # What ``fingerprint`` reads of a request.
    method, path = "POST", LIST_URL

    @property
    def data(self):
        return self.body


def test_a_duplicate_racing_the_first_replays_its_answer_and_keeps_nothing(client_for, cast, route):
    body = payload(route[0], CustomerFactory())
    first = FirstRequest(cast["helpdesk_agent"], body)
    first.start()
    assert first.inserted.wait(30)
    assert first.error is None, first.error
    response = post(client_for("helpdesk_agent"), LIST_URL, body, HTTP_IDEMPOTENCY_KEY=KEY)
    first.join(30)
    assert first.error is None, first.error
    assert response.status_code == 201, response.content
    assert response.json() == {"number": "SR-424242"}
    assert response["Idempotent-Replayed"] == "true"
    assert response["Location"].endswith("/SR-424242/")
    # Its own request, delivery row and audit entry rolled back with the lost race.
    assert not ServiceRequest.objects.exists()
    assert not Delivery.objects.exists()
    assert not AuditEntry.objects.filter(action="servicerequest.created").exists()


def test_a_key_is_stored_with_its_answer_in_one_row(client_for, route):
    body = payload(route[0], CustomerFactory())
    response = post(client_for("helpdesk_agent"), LIST_URL, body, HTTP_IDEMPOTENCY_KEY=KEY)
    assert response.status_code == 201, response.content
    stored = ApiIdempotencyKey.objects.get(key=KEY)
    assert stored.status_code == 201
    assert json.loads(stored.response_body) == response.json()
    assert stored.response_headers == {"Location": response["Location"]}
