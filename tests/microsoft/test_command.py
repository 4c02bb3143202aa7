"""manage.py connect_microsoft: secrets from files only, clear errors, a non-zero exit."""

import pytest
from django.core.management import CommandError, call_command

from microsoft.models import MicrosoftConnection
from tests.microsoft.helpers import stored

pytestmark = pytest.mark.django_db


@pytest.fixture
def secret_file(tmp_path, entra_simulator):
    path = tmp_path / "client-secret"
    path.write_text(entra_simulator.client_secret + "\n")
    return path


def run(entra_simulator, secret_file, *extra):
    args = [
        "--tenant-id",
        entra_simulator.tenant_id,
        "--client-id",
        entra_simulator.client_id,
        "--client-secret-file",
        str(secret_file),
        "--login-url",
        entra_simulator.base_url,
        *extra,
    ]
    return call_command("connect_microsoft", *args)


def test_a_good_run_connects_and_prints_the_state_and_expiry(
    entra_simulator, secret_file, tmp_path, capsys
):
    token_file = tmp_path / "refresh-token"
    token_file.write_text(entra_simulator.issue_refresh_token())
    run(entra_simulator, secret_file, "--refresh-token-file", str(token_file))
    out = capsys.readouterr().out
    connection = stored()
    assert connection.state == MicrosoftConnection.State.CONNECTED
    assert "State: connected" in out
    assert f"{connection.refresh_expires_at:%Y-%m-%d}" in out
    assert connection.client_secret == entra_simulator.client_secret  # the newline stripped


def test_without_a_refresh_token_it_says_consent_is_needed(entra_simulator, secret_file, capsys):
    run(entra_simulator, secret_file)
    out = capsys.readouterr().out
    assert "State: not_connected" in out
    assert "consent is still needed" in out
    assert not entra_simulator.requests


def test_a_missing_file_is_a_clear_error(entra_simulator, tmp_path):
    with pytest.raises(CommandError, match="Cannot read the client secret file"):
        run(entra_simulator, tmp_path / "absent")
    assert not MicrosoftConnection.objects.exists()


def test_a_bad_secret_fails_and_stores_nothing(entra_simulator, tmp_path):
    wrong = tmp_path / "wrong-secret"
    wrong.write_text("not-the-secret")
    token_file = tmp_path / "refresh-token"
    token_file.write_text(entra_simulator.issue_refresh_token())
    with pytest.raises(CommandError, match="invalid_client") as caught:
        run(entra_simulator, wrong, "--refresh-token-file", str(token_file))
    assert "not-the-secret" not in str(caught.value)
    assert not MicrosoftConnection.objects.exists()


def test_a_format_string_in_the_login_url_is_refused(entra_simulator, secret_file):
    with pytest.raises(CommandError, match="braces"):
        run(entra_simulator, secret_file, "--login-url", "https://login.example/{0.__class__}")
    assert not MicrosoftConnection.objects.exists()


def test_the_tenant_id_must_be_a_guid(entra_simulator, secret_file):
    with pytest.raises(CommandError, match="GUID"):
        call_command(
            "connect_microsoft",
            "--tenant-id",
            "contoso",
            "--client-id",
            "x",
            "--client-secret-file",
            str(secret_file),
        )
