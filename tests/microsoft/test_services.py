"""Connecting, redeeming on schedule, and what a revoked or throttled token changes."""

import logging
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection as db_connection

from core.models import AuditEntry
from microsoft import services, tasks
from microsoft.models import MicrosoftConnection
from outbound.entra import GRAPH_SCOPE, EntraError, TokenRevoked
from tests.microsoft.helpers import connect, stored

pytestmark = pytest.mark.django_db


def raw_columns():
    with db_connection.cursor() as cursor:
        cursor.execute(
            "SELECT refresh_token_encrypted, client_secret_encrypted "
            "FROM microsoft_microsoftconnection"
        )
        return cursor.fetchone()


def test_connecting_stores_the_newest_refresh_token_encrypted(entra_simulator):
    connection, given = connect(entra_simulator)
    newest = stored().refresh_token
    assert connection.state == MicrosoftConnection.State.CONNECTED
    assert newest and newest != given  # the one the redemption returned, not the one given
    token_column, secret_column = raw_columns()
    assert newest not in token_column and given not in token_column
    assert entra_simulator.client_secret not in secret_column
    assert stored().client_secret == entra_simulator.client_secret


def test_redemption_stores_the_new_token_and_restarts_the_90_days(entra_simulator):
    connect(entra_simulator)
    before = stored().refresh_token
    tokens = services.redeem_refresh_token()
    connection = stored()
    assert connection.refresh_token == tokens.refresh_token != before
    assert entra_simulator.requests[-1][2]["refresh_token"] == before
    assert connection.refresh_expires_at == connection.last_redeemed_at + timedelta(days=90)
    assert connection.state == MicrosoftConnection.State.CONNECTED


def test_a_revoked_token_breaks_the_connection_tells_admins_once_and_changes_nothing_else(
    entra_simulator, cast, django_capture_on_commit_callbacks
):
    connect(entra_simulator)
    before = stored()
    entra_simulator.revoke(before.refresh_token)
    for _attempt in range(2):
        with django_capture_on_commit_callbacks(execute=True), pytest.raises(TokenRevoked):
            services.redeem_refresh_token()
    after = stored()
    assert after.state == MicrosoftConnection.State.BROKEN
    assert "invalid_grant" in after.last_error and "AADSTS70000" in after.last_error
    assert after.last_error_at is not None
    for field in ("refresh_token_encrypted", "last_redeemed_at", "refresh_expires_at"):
        assert getattr(after, field) == getattr(before, field)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [cast["global_admin"].email]
    assert "AADSTS70000" in mail.outbox[0].body


@pytest.mark.parametrize("status", [429, 500])
def test_a_transient_failure_records_the_error_and_keeps_the_state(entra_simulator, status):
    connect(entra_simulator)
    before = stored()
    entra_simulator.fail_next("/", status, headers={"Retry-After": "30"})
    with pytest.raises(EntraError) as caught:
        services.redeem_refresh_token()
    assert caught.value.retryable
    after = stored()
    assert after.state == MicrosoftConnection.State.CONNECTED
    assert str(status) in after.last_error
    assert after.refresh_token_encrypted == before.refresh_token_encrypted
    assert after.last_redeemed_at == before.last_redeemed_at
    assert not mail.outbox


def test_the_weekly_task_redeems_and_is_on_the_beat_schedule(entra_simulator):
    entry = settings.CELERY_BEAT_SCHEDULE["redeem-microsoft-refresh-token"]
    assert entry["task"] == "microsoft.tasks.redeem_refresh_token"
    assert entry["schedule"] == timedelta(days=7)
    assert settings.CELERY_TASK_ROUTES["microsoft.tasks.*"] == {"queue": "feeds"}
    connect(entra_simulator)
    before = stored().refresh_token
    tasks.redeem_refresh_token.apply().get()
    assert stored().refresh_token != before


def test_the_task_does_nothing_before_a_consent(entra_simulator):
    tasks.redeem_refresh_token.apply().get()
    assert not entra_simulator.requests
    with pytest.raises(services.NotConnected):
        services.redeem_refresh_token()


def test_a_refused_connect_stores_nothing(entra_simulator):
    token = entra_simulator.issue_refresh_token()
    entra_simulator.revoke(token)
    with pytest.raises(TokenRevoked):
        connect(entra_simulator, refresh_token=token)
    assert not MicrosoftConnection.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="microsoft_connection").exists()


def test_connecting_is_audited_without_secrets(entra_simulator, cast):
    connection, given = connect(entra_simulator, actor=cast["global_admin"])
    entry = AuditEntry.objects.get(action="microsoft_connection.connected")
    assert entry.actor == cast["global_admin"]
    assert entry.after["state"] == "connected"
    assert entry.after["client_secret"] == services.SECRET_CHANGED
    text = str(entry.before) + str(entry.after)
    for secret in (given, connection.refresh_token, entra_simulator.client_secret):
        assert secret not in text


def test_access_tokens_are_cached_per_scope(entra_simulator):
    connect(entra_simulator)
    partner_center = services.access_token()
    assert services.access_token() == partner_center  # cached by connect's redemption
    assert len(entra_simulator.requests) == 1
    graph = services.access_token(GRAPH_SCOPE)
    assert graph != partner_center
    assert services.access_token(GRAPH_SCOPE) == graph
    assert [form["scope"] for _m, _p, form in entra_simulator.requests][-1] == GRAPH_SCOPE
    assert len(entra_simulator.requests) == 2
    services.clear_access_tokens()
    assert services.access_token() != partner_center
    assert len(entra_simulator.requests) == 3


def test_no_token_or_secret_is_logged(entra_simulator, caplog):
    caplog.set_level(logging.DEBUG)
    _connection, given = connect(entra_simulator)
    services.redeem_refresh_token()
    entra_simulator.revoke(stored().refresh_token)
    with pytest.raises(TokenRevoked):
        services.redeem_refresh_token()
    assert "outbound POST" in caplog.text  # the transport's line is there, without secrets
    secrets = [given, stored().refresh_token, entra_simulator.client_secret]
    secrets += list(entra_simulator.access_tokens)
    for secret in secrets:
        assert secret not in caplog.text


def test_connecting_without_a_refresh_token_waits_for_consent(entra_simulator):
    connection = services.connect(
        actor=None,
        tenant_id=entra_simulator.tenant_id,
        client_id="portal-app",
        client_secret="s",
        login_url=entra_simulator.base_url,
    )
    assert connection.state == MicrosoftConnection.State.NOT_CONNECTED
    assert not entra_simulator.requests
    assert stored().graph_url == "https://graph.microsoft.com"


def test_the_task_tries_a_transient_failure_again(entra_simulator):
    connect(entra_simulator)
    before = stored().refresh_token
    entra_simulator.fail_next("/", 503)
    tasks.redeem_refresh_token.apply().get()  # eager: the retry runs at once
    assert len(entra_simulator.requests) == 3  # connect, the 503, the retry
    assert stored().refresh_token != before
    assert stored().last_error == ""


def test_the_task_leaves_a_broken_connection_broken_without_retrying(
    entra_simulator, cast, django_capture_on_commit_callbacks
):
    connect(entra_simulator)
    entra_simulator.expire_all()
    with django_capture_on_commit_callbacks(execute=True):
        tasks.redeem_refresh_token.apply().get()
    assert stored().state == MicrosoftConnection.State.BROKEN
    assert "AADSTS700082" in stored().last_error
    assert len(entra_simulator.requests) == 2
    assert len(mail.outbox) == 1
