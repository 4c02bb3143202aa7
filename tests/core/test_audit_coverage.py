"""S9: every action URL (a POST in the access matrix), run by a role allowed to, leaves an audit
entry with its actor, address and request id. The list comes from the matrix, so a new action
URL is covered the day it is added. The audit log itself cannot be changed through the app.
"""

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from core.models import AuditEntry
from tests.test_access_matrix import PUBLIC, URL_ACCESS, _kwargs

# Who runs each action: the most privileged person the matrix allows.
RUN_AS = ["global_admin", "user_management_admin", "admin_agent", "helpdesk_agent"]
# What a person would post; an empty form is refused and rightly changes (and audits) nothing.
BODIES = {
    "servicerequests:note": lambda user: {"text": "Called the customer back."},
    "servicerequests:status": lambda user: {"action": "close"},
    "servicerequests:assign": lambda user: {"assignee": user.pk},
    "api-v1:incident-acknowledge": lambda user: {"note": "Looking at it."},
    "incidents:acknowledge": lambda user: {"note": "Looking at it."},
    "incidents:snooze": lambda user: {"duration": "4h"},
    "servicerequests:rule_move": lambda user: {"direction": "up"},
}


def _deactivate(kwargs):
    from accounts.models import User

    User.objects.filter(pk=kwargs["pk"]).update(is_active=False)


def _fail_delivery(kwargs):
    from servicerequests.models import Delivery, ServiceRequest

    Delivery.objects.filter(service_request__number=kwargs["number"]).update(state="failed")
    ServiceRequest.objects.filter(number=kwargs["number"]).update(status="delivery_failed")


def _deliver(kwargs):
    from servicerequests.models import Delivery

    Delivery.objects.filter(service_request__number=kwargs["number"]).update(state="delivered")


def _add_a_rule_above(kwargs):
    from tests.servicerequests.factories import RoutingRuleFactory

    RoutingRuleFactory(position=0)


# What must be true first for the action to do anything (it is a no-op otherwise, rightly).
PREPARE = {
    "accounts:staff_reactivate": _deactivate,
    "servicerequests:retry": _fail_delivery,
    "servicerequests:status": _deliver,  # an undelivered request cannot be closed yet
    "servicerequests:rule_move": _add_a_rule_above,
}
# Actions that change no record of the portal's: what they set off is audited or logged where
# it happens, or they only answer a question.
NOT_CHANGES = {
    "api-v1:routing-rule-test": "answers which channel a request would take; changes nothing",
    "servicehealth:feed_poll": "asks a worker to poll now; the poll records what it changes",
    "api-v1:feed-source-poll": "the same, through the API",
    "customers:gdap_sync": "asks a worker to read GDAP now; the sync audits what it changes",
    "customers:sync_now": "asks a worker to read customers now; the sync audits what it changes",
    "microsoft:test_api": "one read call as the partner, answered on the page; stores nothing",
    # Changes the source only once Partner Center says yes: audited in its own tests.
    "servicehealth:feed_consent_app": "tests/servicehealth/test_app_consent.py checks its audit",
    "servicerequests:reference": "only for a request waiting to be filed by hand (tested apart)",
}
ACTIONS = sorted(
    name
    for name, (method, allowed, status, _kind) in URL_ACCESS.items()
    if method == "post"
    and allowed != PUBLIC
    and any(person in allowed for person in RUN_AS)
    and status in (200, 201, 202, 302)
    and name not in NOT_CHANGES
)


@pytest.mark.parametrize("url_name", ACTIONS)
def test_every_action_is_audited(url_name, cast, client_for):
    _method, allowed, _status, kind = URL_ACCESS[url_name]
    principal = next(person for person in RUN_AS if person in allowed)
    user = cast[principal]
    kwargs = _kwargs(kind, cast)
    PREPARE.get(url_name, lambda kwargs: None)(kwargs)
    url = reverse(url_name, kwargs=kwargs)
    body = BODIES.get(url_name, lambda user: {})(user)
    before = set(AuditEntry.objects.values_list("pk", flat=True))

    if url_name.startswith("api-v1:"):
        response = client_for(principal).post(
            url, body, content_type="application/json", HTTP_X_REQUEST_ID="req-s9-audit"
        )
    else:
        response = client_for(principal).post(url, body, HTTP_X_REQUEST_ID="req-s9-audit")

    assert response.status_code in (200, 201, 202, 302), response.content[:300]
    entries = AuditEntry.objects.exclude(pk__in=before)
    assert entries.exists(), f"{url_name} changed something without an audit entry"
    for entry in entries:
        assert entry.actor == user
        assert entry.ip_address == "127.0.0.1"
        assert entry.request_id == "req-s9-audit"


def test_the_audit_log_cannot_be_changed_through_the_app(cast, client_for):
    entry = AuditEntry.objects.create(actor=cast["global_admin"], action="x", target_type="t")
    model_admin = admin.site._registry[AuditEntry]
    request = RequestFactory().get("/")
    request.user = cast["global_admin"]
    cast["global_admin"].is_superuser = True
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, entry)
    assert not model_admin.has_delete_permission(request, entry)
    # The page and the export only read.
    signed_in = client_for("global_admin")
    assert signed_in.post(reverse("dashboard:audit_log")).status_code == 405
    assert signed_in.delete(reverse("dashboard:audit_log_export")).status_code == 405
