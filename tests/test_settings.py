"""Settings come from the environment and refuse bad values at boot."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from partnerportal.env import Env

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "x7Qm2Lr9Vb4Tn8Kd1Zs6Hc3Wf5Yp0Gj2Ea7Ru9Io4Pl1Nk8Mb3Vc6Xz5Aq0Sw2Ed",
    "ALLOWED_HOSTS": "portal.partner.example",
    "FIELD_ENCRYPTION_KEYS": "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=",
    "DATABASE_URL": "postgres://portal:secret@127.0.0.1:1/portal",
    "REDIS_URL": "redis://127.0.0.1:1/0",
}


def run_django(env_vars, code, tmp_path):
    """Boot Django in a fresh interpreter with only ``env_vars`` set (plus PATH) and run code."""
    env = {"PATH": os.environ["PATH"], "VAR_DIR": str(tmp_path / "var"), **env_vars}
    script = "import django; django.setup(); from django.conf import settings; " + code
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "partnerportal.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_checks_pass(env, *options, timeout=60):
    """``manage.py check`` with ``options`` finds nothing, warnings included, in a fresh
    interpreter with ``env``."""
    result = subprocess.run(
        [sys.executable, "manage.py", "check", *options, "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("value", ["yes", "ture", "on", "False!", "2"])
def test_a_misspelt_boolean_stops_the_boot_naming_the_variable(value):
    with pytest.raises(ImproperlyConfigured, match="DEBUG"):
        Env({"DEBUG": value}).bool("DEBUG", default=False)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("TRUE", True), ("1", True), ("false", False), ("0", False)],
)
def test_booleans_parse(value, expected):
    assert Env({"DEBUG": value}).bool("DEBUG", default=not expected) is expected


def test_unset_values_take_their_default():
    env = Env({"EMPTY": ""})
    assert env.bool("EMPTY", default=True) is True
    assert env.int("MISSING", 25) == 25
    assert env.list("MISSING", ["a"]) == ["a"]


def test_numbers_and_choices_are_checked():
    with pytest.raises(ImproperlyConfigured, match="EMAIL_PORT"):
        Env({"EMAIL_PORT": "twenty-five"}).int("EMAIL_PORT", 25)
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        Env({"EMAIL_PORT": "0"}).int("EMAIL_PORT", 25, minimum=1)
    with pytest.raises(ImproperlyConfigured, match="DJANGO_ENV"):
        Env({"DJANGO_ENV": "prod"}).choice("DJANGO_ENV", ("development", "production"), "x")


def test_secrets_can_come_from_a_file(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("s3cret-from-file\n")
    assert Env({"SECRET_KEY_FILE": str(secret_file)}).secret("SECRET_KEY") == "s3cret-from-file"
    assert Env({"SECRET_KEY": "inline"}).secret("SECRET_KEY") == "inline"


def test_a_secret_file_that_cannot_be_read_stops_the_boot(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY_FILE"):
        Env({"SECRET_KEY_FILE": str(tmp_path / "missing")}).secret("SECRET_KEY")


def test_a_secret_set_twice_is_refused(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("a")
    with pytest.raises(ImproperlyConfigured, match="not both"):
        Env({"SECRET_KEY": "b", "SECRET_KEY_FILE": str(secret_file)}).secret("SECRET_KEY")


def test_with_nothing_set_it_runs_on_sqlite_with_a_serverless_broker(tmp_path):
    result = run_django(
        {},
        "import json; print(json.dumps({'debug': settings.DEBUG, "
        "'engine': settings.DATABASES['default']['ENGINE'], "
        "'name': str(settings.DATABASES['default']['NAME']), "
        "'broker': settings.CELERY_BROKER_URL, "
        "'cache': settings.CACHES['default']['BACKEND']}))",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["debug"] is True
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["name"] == str(tmp_path / "var" / "portal.sqlite3")
    assert values["broker"] == "filesystem://"
    assert values["cache"].endswith("LocMemCache")


def test_database_and_redis_urls_switch_backends(tmp_path):
    result = run_django(
        {
            "DATABASE_URL": "postgres://u:p@127.0.0.1:5432/portal",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
        },
        "print(settings.DATABASES['default']['ENGINE'], settings.CELERY_BROKER_URL, "
        "settings.CACHES['default']['BACKEND'])",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "redis://127.0.0.1:6379/0",
        "django.core.cache.backends.redis.RedisCache",
    ]


def test_a_bad_boolean_in_the_environment_stops_the_boot(tmp_path):
    result = run_django({"DEBUG": "yes"}, "print('booted')", tmp_path)
    assert result.returncode != 0
    assert "DEBUG='yes' is not a boolean" in result.stderr


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "FIELD_ENCRYPTION_KEYS"])
def test_production_refuses_to_start_without_its_required_settings(missing, tmp_path):
    env = {key: value for key, value in PRODUCTION.items() if key != missing}
    result = run_django(env, "print('booted')", tmp_path)
    assert result.returncode != 0
    assert "booted" not in result.stdout
    assert missing in result.stderr


def test_production_refuses_debug(tmp_path):
    result = run_django({**PRODUCTION, "DEBUG": "true"}, "print('booted')", tmp_path)
    assert result.returncode != 0
    assert "DEBUG=true is not allowed" in result.stderr


def test_check_deploy_is_clean_in_production(tmp_path):
    env = {"PATH": os.environ["PATH"], "VAR_DIR": str(tmp_path / "var"), **PRODUCTION}
    assert_checks_pass(env, "--deploy")


def test_production_never_loads_demo_data(tmp_path):
    env = {"PATH": os.environ["PATH"], "VAR_DIR": str(tmp_path / "var"), **PRODUCTION}
    result = subprocess.run(
        [sys.executable, "manage.py", "load_demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "never loaded" in result.stderr


def test_production_headers_are_strict(tmp_path):
    result = run_django(
        PRODUCTION,
        "print(settings.SECURE_HSTS_SECONDS, settings.SESSION_COOKIE_SECURE, "
        "settings.CSRF_COOKIE_SECURE, settings.SECURE_SSL_REDIRECT, "
        "settings.CONTENT_SECURITY_POLICY['DIRECTIVES']['frame-ancestors'], "
        "settings.EMAIL_BACKEND)",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    hsts, session_secure, csrf_secure, redirect, frame_ancestors, email = result.stdout.split(
        " ", 5
    )
    assert int(hsts) >= 31536000
    assert (session_secure, csrf_secure, redirect) == ("True", "True", "True")
    assert "none" in frame_ancestors
    assert email.strip() == "django.core.mail.backends.smtp.EmailBackend"


def test_every_variable_is_documented():
    """Each variable the settings read appears in .env.example and the README."""
    import re

    source = (ROOT / "partnerportal" / "settings.py").read_text()
    names = set(re.findall(r'env\.(?:str|bool|int|list|choice|secret)\(\s*"([A-Z_]+)"', source))
    assert len(names) > 15
    example = (ROOT / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()
    undocumented = sorted(n for n in names if f"{n}=" not in example or f"`{n}`" not in readme)
    assert undocumented == []
