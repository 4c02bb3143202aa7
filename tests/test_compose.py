"""There is no Docker engine here: check the compose file's shape instead of running it."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def load():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_it_runs_web_workers_beat_postgres_and_redis():
    services = load()["services"]
    assert {
        "web",
        "worker-feeds",
        "worker-escalations",
        "worker-webhooks",
        "beat",
        "postgres",
        "redis",
    } <= set(services)


def test_each_service_has_a_health_check():
    services = load()["services"]
    for name in ("web", "worker-feeds", "worker-escalations", "beat", "postgres", "redis"):
        assert "healthcheck" in services[name], name
        assert services[name]["healthcheck"]["test"], name
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])


def test_commands_run_gunicorn_one_worker_per_queue_and_beat():
    services = load()["services"]
    assert services["web"]["command"][0] == "gunicorn"
    assert "partnerportal.wsgi:application" in services["web"]["command"]
    assert "--queues=feeds" in services["worker-feeds"]["command"]
    assert "--queues=escalations" in services["worker-escalations"]["command"]
    assert "--queues=webhooks" in services["worker-webhooks"]["command"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "partnerportal", "beat"]


def test_the_portal_services_run_in_production_mode_on_postgres_and_redis():
    services = load()["services"]
    for name in ("web", "worker-feeds", "worker-escalations", "beat", "migrate"):
        environment = services[name]["environment"]
        assert environment["DJANGO_ENV"] == "production", name
        assert environment["DATABASE_URL"].startswith("postgres://"), name
        assert environment["REDIS_URL"] == "redis://redis:6379/0", name
        assert services[name]["env_file"] == ".env", name
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_no_secret_is_written_in_the_compose_file():
    text = (ROOT / "docker-compose.yml").read_text()
    assert "SECRET_KEY:" not in text
    assert "FIELD_ENCRYPTION_KEYS:" not in text
    assert "${POSTGRES_PASSWORD:?" in text


def test_the_dockerfile_serves_with_gunicorn_as_an_unprivileged_user():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("# ") and "FROM python:3.11" in dockerfile
    assert "USER portal" in dockerfile
    assert "-c constraints.txt" in dockerfile
    assert "gunicorn" in dockerfile


def test_the_compose_file_is_valid_per_the_compose_specification():
    import subprocess
    import sys

    checker = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(ROOT / "docker-compose.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


PROXY_IMAGES = ("nginx", "traefik", "caddy", "haproxy", "envoy")


def test_the_trusted_proxy_count_matches_the_proxies_in_the_file():
    # No service here is a reverse proxy: web is reached directly, so the portal must trust no
    # X-Forwarded-For entry unless .env says a proxy was put in front.
    services = load()["services"]
    images = [str(service.get("image", "")) for service in services.values()]
    assert not [image for image in images if image.split(":")[0].endswith(PROXY_IMAGES)]
    assert "8000:8000" in services["web"]["ports"]
    for name in ("web", "worker-feeds", "worker-escalations", "worker-webhooks", "beat"):
        environment = services[name]["environment"]
        assert environment["TRUSTED_PROXY_COUNT"] == "${TRUSTED_PROXY_COUNT:-0}", name
        assert "NUM_PROXIES" not in environment, name
