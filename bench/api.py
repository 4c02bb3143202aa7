"""The API under concurrent load, served by gunicorn: the customers, incidents and service-requests
list endpoints (part "lists"), and webhook fan-out (part "fanout").

Lists: seeds 10,000 customers, 100,000 incidents (with their affected-customer links and some
acknowledgements) and 10,000 service requests with bulk_create, serves the portal with gunicorn
on a free loopback port (3 sync workers, as docker-compose.yml runs it) together with a minimal
Django JSON view, and loads each endpoint with wrk (16 connections, a Global admin API token) for
a fixed time: requests/s, p50/p99 latency and errors, each as a ratio to the minimal view in the
same run, plus queries per request (counted once in-process) and the CPU each request costs the
gunicorn workers and PostgreSQL. Each list target also has a baseline, loaded the same way: a
hand-written view returning the same 50 rows with the same fields, filter and cursor from
``.values()`` as JSON, behind the same token check; ``x values`` is the list's throughput as a
fraction of its baseline's. With ``--json`` the part ends with one line:
``{"min_ratio_vs_values": …, "max_queries": …, "targets": {label: {"req_s", "ratio_vs_values",
"queries"}}}``.

Fan-out: records 1,000 events in one transaction for 10 webhook subscriptions pointing at the PSA
receiver simulator (it verifies every Standard Webhooks signature); a real Celery worker fans them
out and delivers them (bench/harness/fanout.py): deliveries/s against one process POSTing the
same signed bodies to the same receiver in a loop, and event-to-delivered p50/p99 against a bare
Celery round trip through the same worker. With ``--json``: ``{"deliveries_per_s": …,
"ratio_vs_keepalive_post": …}``.

Needs PostgreSQL and Redis: it uses DATABASE_URL / REDIS_URL when set, otherwise starts its own
on loopback with scripts/services.sh (as `make test` does) and stops them afterwards. Installs
wrk with apt-get when it is missing and the bench runs as root. Usage:

    .venv/bin/python bench/api.py [--part all|lists|fanout] [--customers 10000]
        [--incidents 100000] [--service-requests 10000] [--duration 10] [--connections 16]
        [--events 1000] [--subscriptions 10] [--fanout-concurrency 4] [--json]
"""

import argparse
import json
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import ROOT, free_port, start_services
from bench.harness.fanout import fanout

# wrk prints its own summary in a form that is hard to parse; this prints one JSON line instead.
WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "errors": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


# --- the URLconf and WSGI application gunicorn serves ------------------------------------------
# gunicorn imports this file as ``bench.api`` (bench/ is a namespace package from the project
# root), so nothing here may touch Django at import time.


def minimal(request):
    """The baseline: the whole middleware stack, no database, a small JSON body."""
    from django.http import JsonResponse

    return JsonResponse({"ok": True, "service": "bench"})


def _values_baseline(name):
    """``(model, columns, children)``: what list ``name``'s baseline reads. The columns are the
    portal list's; ``children`` are ``(key, queryset, parent column)``. Only that list's
    querysets are built: a request pays for its own reads, no others."""
    from django.db.models import F

    from customers.models import Contact, Customer
    from customers.serializers import CONTACT_FIELDS, CUSTOMER_LIST_COLUMNS
    from incidents.api import INCIDENT_LIST_COLUMNS
    from incidents.models import Acknowledgement, AffectedCustomer, Incident
    from servicerequests.api.serializers import RELATED_COLUMNS, SERVICE_REQUEST_LIST_COLUMNS
    from servicerequests.models import ServiceRequest

    if name == "customers":
        tags = Customer.tags.through.objects.order_by("tag__name").values(
            "customer_id", name=F("tag__name")
        )
        contacts = Contact.objects.order_by("role", "name", "pk").values(
            "customer_id", *CONTACT_FIELDS
        )
        return (
            Customer,
            CUSTOMER_LIST_COLUMNS,
            [("tags", tags, "customer_id"), ("contacts", contacts, "customer_id")],
        )
    if name == "incidents":
        affected = AffectedCustomer.objects.order_by(
            "customer__company_name", "customer_id"
        ).values("incident_id", "customer__tenant_id", "customer__company_name")
        acknowledgements = Acknowledgement.objects.order_by("-created_at", "-pk").values(
            "incident_id", "note", "created_at", "user__email", "user__full_name"
        )
        return (
            Incident,
            INCIDENT_LIST_COLUMNS,
            [
                ("affected_customers", affected, "incident_id"),
                ("acknowledgements", acknowledgements, "incident_id"),
            ],
        )
    related = ServiceRequest.objects.values("id", *RELATED_COLUMNS[1:])
    return ServiceRequest, SERVICE_REQUEST_LIST_COLUMNS, [("related", related, "id")]


def values_baseline(request, name):
    """The baseline a list is measured against: the same 50 rows with the same fields, filter
    (``modified_since``) and keyset cursor (``after=<modified_at>|<pk>``) read with ``.values()``
    and written with ``JsonResponse``, behind the portal's token check and nothing else."""
    from collections import defaultdict
    from datetime import datetime

    from django.db.models import Q
    from django.http import JsonResponse
    from rest_framework.exceptions import AuthenticationFailed

    from accounts.authentication import ApiClientTokenAuthentication

    try:
        authenticated = ApiClientTokenAuthentication().authenticate(request)
    except AuthenticationFailed:
        authenticated = None
    if authenticated is None:
        return JsonResponse({"detail": "Authentication credentials were not provided."}, status=401)
    if name not in ("customers", "incidents", "service-requests"):
        return JsonResponse({"detail": "Not found."}, status=404)
    model, columns, children = _values_baseline(name)
    rows = model.objects.order_by("modified_at", "pk")
    if request.GET.get("modified_since"):
        rows = rows.filter(modified_at__gt=datetime.fromisoformat(request.GET["modified_since"]))
    if request.GET.get("after"):
        stamp, pk = request.GET["after"].rsplit("|", 1)
        stamp = datetime.fromisoformat(stamp)
        # ``modified_at >= stamp`` as well, as the portal's cursor states it: an index start key.
        rows = rows.filter(
            Q(modified_at__gt=stamp) | Q(modified_at=stamp, pk__gt=int(pk)), modified_at__gte=stamp
        )
    rows = list(rows.values(*columns)[:51])
    more, rows = len(rows) > 50, rows[:50]
    ids = [row["pk"] for row in rows]
    for key, queryset, parent in children:
        grouped = defaultdict(list)
        for child in queryset.filter(**{f"{parent}__in": ids}):
            grouped[child.pop(parent)].append(child)
        for row in rows:
            row[key] = grouped[row["pk"]]
    last = rows[-1] if more else None
    following = f"{last['modified_at'].isoformat()}|{last['pk']}" if last else None
    return JsonResponse({"next": following, "results": rows})


def use_bench_urls():
    """Serve the portal's URLs plus /bench/minimal/ and the lists' baselines,
    /bench/values/<list>/, from this module (after django.setup())."""
    from django.conf import settings
    from django.urls import include, path

    from partnerportal import urls

    global urlpatterns, handler403, handler404, handler500
    urlpatterns = [
        path("bench/minimal/", minimal),
        path("bench/values/<str:name>/", values_baseline),
        path("", include(urls)),
    ]
    handler403, handler404, handler500 = urls.handler403, urls.handler404, urls.handler500
    settings.ROOT_URLCONF = __name__


def wsgi_application():
    """gunicorn's app factory: ``bench.api:wsgi_application()``."""
    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()
    use_bench_urls()
    return application


# --- processes -----------------------------------------------------------------------------------


def ensure_wrk():
    if shutil.which("wrk"):
        return shutil.which("wrk")
    if os.geteuid() != 0:
        raise SystemExit("bench/api.py needs wrk: sudo apt-get install -y wrk")
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=600"]
    print("installing wrk with apt-get", flush=True)
    subprocess.run([*apt, "update", "-qq"], check=True)
    subprocess.run(
        [*apt, "install", "-y", "-qq", "wrk"],
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        stdout=subprocess.DEVNULL,
    )
    return shutil.which("wrk")


def children(pid):
    """The ids of the processes whose parent is ``pid`` (gunicorn's workers, postgres backends)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # The command name is in parentheses and may hold spaces: split after it.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def machine_cpu():
    """(busy, total) CPU seconds of the whole machine so far, all cores."""
    ticks = os.sysconf("SC_CLK_TCK")
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields) - idle) / ticks, sum(fields) / ticks


def cpu_times(parent):
    """``{pid: CPU seconds so far}`` (user + system) of the children of ``parent``."""
    ticks = os.sysconf("SC_CLK_TCK")
    times = {}
    for pid in children(parent):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it just exited
        times[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return times


def cpu_used(before, after):
    """CPU seconds used between two ``cpu_times`` snapshots. A process that started in between
    counts whole; one that exited in between (a database connection reaching its
    DATABASE_CONN_MAX_AGE) is lost, so this may undercount slightly, never go negative."""
    return sum(seconds - before.get(pid, 0) for pid, seconds in after.items())


def start_gunicorn(args, port, log, processes, app="bench.api:wsgi_application()"):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "partnerportal.settings",
        # Connections outlive the run, so every backend's CPU is counted (see cpu_used).
        "DATABASE_CONN_MAX_AGE": "600",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            app,
            "--chdir",
            str(ROOT),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--worker-class",
            args.worker_class,
            "--threads",
            str(args.threads),
            "--timeout",
            "30",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    processes.append(server)  # at once, so an interrupt while it starts still stops it
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/minimal/", timeout=2):
                return server
        except OSError:
            time.sleep(0.2)
    stop_process(server)
    log.seek(0)
    raise SystemExit(f"gunicorn did not come up:\n{log.read()[-3000:]}")


def stop_process(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# --- seeding -------------------------------------------------------------------------------------

SERVICES = [
    ("Exchange Online", "E-Mail and calendar access", "Email and calendar"),
    ("Microsoft Teams", "Teams Components", "Chat"),
    ("SharePoint Online", "SharePoint Features", "Sites"),
    ("Microsoft Entra", "Sign-In", "Authentication"),
    ("OneDrive for Business", "OneDrive for Business", "Sync"),
]
STATUSES = ["serviceDegradation", "investigating", "serviceRestored", "restoringService"]


def seed(args, run, admin_user):
    """Rows of this run only (names carry ``run``), so a shared DATABASE_URL can take a re-run."""
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.utils import timezone

    from accounts.models import User
    from accounts.roles import Role
    from customers.models import Contact, Customer, Tag
    from incidents.models import Acknowledgement, AffectedCustomer, Incident
    from servicerequests.models import Channel, Delivery, ServiceRequest, SupportTopic

    now = timezone.now()
    batch = 5000

    agents = [
        User.objects.create_user(f"bench-{run}-agent{n}@bench.example", None) for n in range(5)
    ]
    helpdesk = Group.objects.get(name=Role.HELPDESK_AGENT)
    for agent in agents:
        agent.groups.add(helpdesk)
    tags = [
        Tag.objects.get_or_create(name=name)[0]
        for name in ("vip", "smb", "enterprise", "education", "government")
    ]

    customers = []
    for n in range(args.customers):
        customer = Customer(
            tenant_id=uuid.uuid4(),
            company_name=f"Bench {run} Customer {n:05d}",
            default_domain=f"b{run}-{n:05d}.onmicrosoft.com",
            other_domains=[f"b{run}-{n:05d}.example"],
            country="TR" if n % 3 else "DE",
            relationship="indirect_reseller" if n % 4 == 0 else "reseller",
            notes="" if n % 5 else "Prefers email; escalate critical issues by phone.",
            gdap_access_until=now + timedelta(days=n % 400 - 50) if n % 2 else None,
            gdap_ever_active=bool(n % 2),
        )
        customer.save_prepare()
        customers.append(customer)
    Customer.objects.bulk_create(customers, batch_size=batch)
    Contact.objects.bulk_create(
        [
            Contact(
                customer=customer,
                name=f"{role.title()} contact {n}",
                email=f"{role}@b{run}-{n:05d}.example",
                phone="+90 212 555 0000",
                role=role,
            )
            for n, customer in enumerate(customers)
            for role in ("primary", "technical")
        ],
        batch_size=batch,
    )
    Customer.tags.through.objects.bulk_create(
        [
            Customer.tags.through(customer_id=customer.pk, tag_id=tags[n % len(tags)].pk)
            for n, customer in enumerate(customers)
        ],
        batch_size=batch,
    )

    incidents = []
    for n in range(args.incidents):
        service, feature, group = SERVICES[n % len(SERVICES)]
        resolved = n % 10 != 0  # most of a long history is resolved
        incidents.append(
            Incident(
                microsoft_id=f"EX{run}{n:06d}",
                classification="advisory" if n % 3 == 0 else "incident",
                status="serviceRestored" if resolved else STATUSES[n % len(STATUSES)],
                title=f"Users may be unable to use {feature} ({n})",
                impact_description=(
                    f"Users may be unable to access {feature} in {service}. "
                    "We are analysing telemetry to determine the root cause."
                ),
                service=service,
                feature=feature,
                feature_group=group,
                origin="microsoft",
                is_resolved=resolved,
                high_impact=n % 7 == 0,
                started_at=now - timedelta(hours=n),
                ended_at=now - timedelta(hours=n - 2) if resolved else None,
                last_modified_at=now - timedelta(minutes=n),
            )
        )
    Incident.objects.bulk_create(incidents, batch_size=batch)
    count = len(customers)
    links = []
    for n, incident in enumerate(incidents):
        # Most incidents hit two tenants; every hundredth is a wide one hitting 50.
        picks = {(n * 7) % count, (n * 13 + 1) % count}
        if n % 100 == 0:
            picks.update((n + k * 197) % count for k in range(50))
        links.extend(
            AffectedCustomer(incident=incident, customer=customers[k], first_seen_at=now)
            for k in sorted(picks)
        )
    AffectedCustomer.objects.bulk_create(links, batch_size=batch)
    Acknowledgement.objects.bulk_create(
        [
            Acknowledgement(incident=incident, user=agents[(n + k) % len(agents)], note="On it.")
            for n, incident in enumerate(incidents)
            if n % 10 == 0
            for k in range(1 + (n % 50 == 0))
        ],
        batch_size=batch,
    )

    topics = list(SupportTopic.objects.filter(active=True)) or [
        SupportTopic.objects.create(name=f"Bench topic {run}", category="technical")
    ]
    channels = list(Channel.objects.all()) or [
        Channel.objects.create(
            name=f"Bench {run}", kind="manual", category="technical", tier="advanced"
        )
    ]
    requests = []
    for n in range(args.service_requests):
        topic = topics[n % len(topics)]
        status = ("closed", "closed", "open", "attention_needed", "closed")[n % 5]
        requests.append(
            ServiceRequest(
                title=f"Bench request {n}: mail flow delayed",
                description="Opened by bench/api.py.",
                severity=("minimal", "moderate", "critical")[n % 3],
                support_topic=topic,
                category=topic.category,
                status=status,
                customer=customers[n % count],
                contact_name=f"Contact {n}",
                contact_email=f"primary@b{run}-{n % count:05d}.example",
                channel=channels[n % len(channels)],
                channel_reference=f"{2600000000 + n}",
                incident=incidents[(n * 10) % len(incidents)] if n % 5 == 0 else None,
                assignee=agents[n % len(agents)] if n % 3 else None,
                created_by=admin_user,
                response_due_at=now - timedelta(hours=n % 48),
                first_response_at=now - timedelta(hours=n % 47) if status != "open" else None,
                closed_at=now - timedelta(hours=1) if status == "closed" else None,
            )
        )
    ServiceRequest.objects.bulk_create(requests, batch_size=batch)
    Delivery.objects.bulk_create(
        [
            Delivery(
                service_request=request,
                channel=request.channel,
                state="delivered",
                attempts=1,
                delivered_at=now,
            )
            for request in requests
        ],
        batch_size=batch,
    )

    # bulk_create stamps every row with the same auto_now time; spread them back in time (newest
    # last, a minute ago: past the API's settle window) so ordering by modification and
    # ?modified_since= select a realistic slice.
    newest = now - timedelta(minutes=1)
    spreads = [
        (Customer, customers, "10 minutes"),
        (Incident, incidents, "1 minute"),
        (ServiceRequest, requests, "5 minutes"),
    ]
    with connection.cursor() as cursor:
        for model, rows, step in spreads:
            if not rows:
                continue
            table = model._meta.db_table
            first, last = rows[0].pk, rows[-1].pk
            cursor.execute(
                f"UPDATE {table} SET modified_at = %s - (%s - id) * interval '{step}', "
                f"created_at = %s - (%s - id) * interval '{step}' - interval '1 day' "
                "WHERE id BETWEEN %s AND %s",
                [newest, last, newest, last, first, last],
            )
        first, last = requests[0].pk, requests[-1].pk
        cursor.execute(
            f"UPDATE {ServiceRequest._meta.db_table} SET number = 'SR-' || lpad(id::text, 6, '0') "
            "WHERE id BETWEEN %s AND %s",
            [first, last],
        )
        # The planner needs statistics to pick the indexes a long-lived database would use.
        cursor.execute("ANALYZE")
    return len(links)


def recent_cutoff(model, fraction):
    """The modification time after which the newest ``fraction`` of the rows were changed."""
    total = model.objects.count()
    offset = min(total - 1, max(1, int(total * fraction)))
    return model.objects.order_by("-modified_at", "-pk").values_list("modified_at", flat=True)[
        offset
    ]


# --- load ----------------------------------------------------------------------------------------


def load(wrk, script, url, token, args, duration):
    """One wrk run: its JSON summary plus the client's own CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    finished = subprocess.run(
        [
            wrk,
            "--threads",
            str(args.client_threads),
            "--connections",
            str(args.connections),
            "--duration",
            f"{duration}s",
            "--timeout",
            "30s",
            "--script",
            script,
            "--header",
            f"Authorization: Bearer {token}",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=False,
    )
    if finished.returncode:
        raise SystemExit(f"wrk failed on {url}: {finished.stdout}{finished.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = json.loads(
        next(line for line in finished.stdout.splitlines() if line.startswith("{"))
    )
    summary["client_cpu"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return summary


def count_queries(path, token, show=False):
    """Queries one request makes, in-process (same code, same database as the server), and the
    rows it returned."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.get(path)  # warm: the token's last-used stamp is written at most per minute
    assert response.status_code == 200, (path, response.status_code, response.content[:300])
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    if show:
        for query in queries:
            print(f"  {float(query['time']) * 1000:7.2f} ms  {query['sql'][:600]}")
    body = response.json()
    return len(queries), len(body["results"]) if "results" in body else None


def with_page_size(path, size):
    parts = urllib.parse.urlsplit(path)
    query = urllib.parse.urlencode([*urllib.parse.parse_qsl(parts.query), ("page_size", size)])
    return urllib.parse.urlunsplit(parts._replace(query=query))


def halfway(path, model, token):
    """The page a client paging through the whole list reaches half-way: a cursor, no filter."""
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")
    middle = recent_cutoff(model, 0.5)
    # modified_since only finds the position (one row, so a small table has a next page too);
    # the cursor holds it, so the next link without the filter pages on from there.
    response = client.get(path, {"modified_since": middle.isoformat(), "page_size": 1})
    assert response.status_code == 200, (path, response.status_code)
    following = urllib.parse.urlsplit(response.json()["next"])
    query = [
        (key, value)
        for key, value in urllib.parse.parse_qsl(following.query)
        if key not in ("page_size", "modified_since")
    ]
    return urllib.parse.urlunsplit(("", "", following.path, urllib.parse.urlencode(query), ""))


def halfway_after(model):
    """The baseline's cursor for the page ``halfway`` reaches: after the first row changed after
    the middle one (``halfway`` pages on from that row)."""
    middle = recent_cutoff(model, 0.5)
    row = (
        model.objects.filter(modified_at__gt=middle)
        .order_by("modified_at", "pk")
        .values("modified_at", "pk")
        .first()
    )
    return urllib.parse.urlencode({"after": f"{row['modified_at'].isoformat()}|{row['pk']}"})


def serve_and_load(args, wrk, targets, token, postmaster_pid_file, processes):
    """Serve with gunicorn and load every target with wrk: ``[(label, summary)]``."""
    postmaster = int(postmaster_pid_file.read_text().split()[0]) if postmaster_pid_file else None
    results = []
    with tempfile.TemporaryDirectory(prefix="portal-bench-api-") as scratch:
        script = Path(scratch) / "summary.lua"
        script.write_text(WRK_SCRIPT)
        port = free_port()
        with open(Path(scratch) / "gunicorn.log", "w+") as log:
            server = start_gunicorn(args, port, log, processes)
            for label, path in targets:
                url = f"http://127.0.0.1:{port}{path}"
                request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
                with urllib.request.urlopen(request, timeout=30) as response:
                    assert response.status == 200, (url, response.status)
                load(wrk, str(script), url, token, args, args.warmup)
                # Workers and backends are looked up per run: a worker that died was replaced.
                server_before = cpu_times(server.pid)
                db_before = cpu_times(postmaster) if postmaster else {}
                machine_before = machine_cpu()
                summary = load(wrk, str(script), url, token, args, args.duration)
                machine_after = machine_cpu()
                summary["server_cpu"] = cpu_used(server_before, cpu_times(server.pid))
                summary["db_cpu"] = (
                    cpu_used(db_before, cpu_times(postmaster)) if postmaster else None
                )
                # Cores busy with anything but gunicorn, PostgreSQL and wrk (other jobs on a
                # shared machine, Redis, the kernel): near 0 means nothing else competed.
                wall = (machine_after[1] - machine_before[1]) / os.cpu_count()
                ours = summary["server_cpu"] + (summary["db_cpu"] or 0) + summary["client_cpu"]
                summary["other_cores"] = (machine_after[0] - machine_before[0] - ours) / wall
                results.append((label, summary))
                print(f"{label}: {summary}", flush=True)
            stop_process(server)
            log.seek(0)
            said = log.read().strip()
    if said:
        print(f"gunicorn said:\n{said[-3000:]}")
    return results


def lists(args, postmaster_pid_file, processes):
    from django.db import connection
    from django.utils import timezone

    from accounts import services as account_services
    from customers.models import Customer
    from incidents.models import AffectedCustomer, Incident
    from servicerequests.models import ServiceRequest

    wrk = ensure_wrk()
    run = secrets.token_hex(3)
    client, token = account_services.create_api_client(
        name=f"bench-api-{run}", role="global_admin", scopes=["read"]
    )
    started = time.perf_counter()
    links = seed(args, run, client.user)
    print(
        f"seeded {args.customers:,} customers, {args.incidents:,} incidents "
        f"({links:,} customer links), {args.service_requests:,} service requests "
        f"in {time.perf_counter() - started:.1f} s; database holds "
        f"{Customer.objects.count():,} / {Incident.objects.count():,} "
        f"({AffectedCustomer.objects.count():,}) / {ServiceRequest.objects.count():,}",
        flush=True,
    )

    def since(model):
        cutoff = recent_cutoff(model, args.recent)
        return urllib.parse.urlencode({"modified_since": cutoff.isoformat()})

    targets = [("minimal Django view (baseline)", "/bench/minimal/")]
    # Each list target's baseline: label -> the baseline's label (core.listing's goal is a
    # ratio to it, measured in the same run).
    baselines = {}
    for name, path, model in [
        ("customers", "/api/v1/customers/", Customer),
        ("incidents", "/api/v1/incidents/", Incident),
        ("service-requests", "/api/v1/service-requests/", ServiceRequest),
    ]:
        values = f"/bench/values/{name}/"
        filtered = since(model)
        for shape, portal, baseline in [
            ("first page", path, values),
            ("modified_since", f"{path}?{filtered}", f"{values}?{filtered}"),
            ("cursor half-way", halfway(path, model, token), f"{values}?{halfway_after(model)}"),
        ]:
            targets += [(f"{name}, {shape}", portal), (f"{name}, {shape}, values", baseline)]
            baselines[f"{name}, {shape}"] = f"{name}, {shape}, values"
    queries, most_queries = {}, {}
    for label, path in targets:
        if label not in baselines:
            continue  # the baselines' queries are not the portal's
        if args.show_queries:
            print(f"{label}: {path}")
        count, rows = count_queries(path, token, show=args.show_queries)
        # The count must not depend on the page size (no query per row).
        bigger, bigger_rows = count_queries(with_page_size(path, 200), token)
        queries[label] = count if count == bigger else f"{count}/{bigger}"
        most_queries[label] = max(count, bigger)
        print(
            f"{label}: {count} queries for {rows} rows, {bigger} for {bigger_rows} rows",
            flush=True,
        )
    connection.close()  # the server's workers get the database to themselves

    results = serve_and_load(args, wrk, targets, token, postmaster_pid_file, processes)

    base = results[0][1]
    base_rps = base["requests"] / (base["duration_us"] / 1e6)
    rates = {
        label: summary["requests"] / (summary["duration_us"] / 1e6) for label, summary in results
    }
    print()
    print(
        f"{args.customers:,} customers, {args.incidents:,} incidents, "
        f"{args.service_requests:,} service requests; gunicorn {args.workers} {args.worker_class} "
        f"workers on 127.0.0.1, wrk {args.client_threads} threads x {args.connections} "
        f"connections, {args.duration} s per target, {timezone.now():%Y-%m-%d}"
    )
    header = (
        f"{'target':<42} {'req/s':>7} {'x base':>7} {'x values':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'p50 x':>6} "
        f"{'errors':>6} {'queries':>7} {'app CPU ms':>10} {'db CPU ms':>9} {'wrk CPU':>7} "
        f"{'other':>5}"
    )
    print(header)
    for label, summary in results:
        seconds = summary["duration_us"] / 1e6
        rps = summary["requests"] / seconds
        per_request = 1000 / max(summary["requests"], 1)
        db = "—" if summary["db_cpu"] is None else f"{summary['db_cpu'] * per_request:.2f}"
        versus = f"{rps / rates[baselines[label]]:.2f}" if label in baselines else ""
        print(
            f"{label:<42} {rps:>7.0f} {rps / base_rps:>7.2f} {versus:>8} "
            f"{summary['p50_us'] / 1000:>8.1f} {summary['p99_us'] / 1000:>8.1f} "
            f"{summary['p50_us'] / base['p50_us']:>6.1f} {summary['errors']:>6} "
            f"{queries.get(label, ''):>7} {summary['server_cpu'] * per_request:>10.2f} {db:>9} "
            f"{summary['client_cpu'] / seconds:>7.0%} {summary['other_cores']:>5.2f}"
        )
    print(
        "x base: throughput as a fraction of the minimal view's; x values: as a fraction of the "
        "target's baseline (its rows from .values() as JSON, the same token check, filter and "
        "cursor); p50 x: median latency as a multiple of the minimal view's; queries: per "
        "request (a/b when 200 rows take b); app/db CPU: gunicorn "
        "workers' / PostgreSQL backends' CPU per request; wrk CPU: the load generator's share of "
        "one core; other: cores busy with anything else (other jobs on the machine, Redis)."
    )
    if args.json:
        summary = {
            label: {
                "req_s": round(rates[label], 1),
                "ratio_vs_values": round(rates[label] / rates[baseline], 3),
                "queries": most_queries[label],
            }
            for label, baseline in baselines.items()
        }
        print(
            json.dumps(
                {
                    "min_ratio_vs_values": min(row["ratio_vs_values"] for row in summary.values()),
                    "max_queries": max(row["queries"] for row in summary.values()),
                    "targets": summary,
                }
            )
        )


# --- main ----------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["all", "lists", "fanout"], default="all")
    lists_group = parser.add_argument_group("lists")
    lists_group.add_argument("--customers", type=int, default=10_000)
    lists_group.add_argument("--incidents", type=int, default=100_000)
    lists_group.add_argument("--service-requests", type=int, default=10_000)
    lists_group.add_argument(
        "--recent",
        type=float,
        default=0.01,
        help="the share of rows newer than the modified_since cutoff (default 1%%)",
    )
    lists_group.add_argument("--duration", type=int, default=10, help="seconds per target")
    lists_group.add_argument("--warmup", type=int, default=2, help="seconds before each target")
    lists_group.add_argument("--connections", type=int, default=16)
    lists_group.add_argument("--client-threads", type=int, default=2)
    lists_group.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    lists_group.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    lists_group.add_argument("--threads", type=int, default=1, help="per gthread worker")
    lists_group.add_argument(
        "--show-queries", action="store_true", help="print each target's SQL with its time"
    )
    fanout_group = parser.add_argument_group("fanout")
    fanout_group.add_argument("--events", type=int, default=1000)
    fanout_group.add_argument("--subscriptions", type=int, default=10)
    fanout_group.add_argument(
        "--fanout-concurrency", type=int, default=4, help="Celery worker processes"
    )
    parser.add_argument("--json", action="store_true", help="end each part with one JSON line")
    args = parser.parse_args()

    # A plain kill ends the bench through the clean-up below, like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    stop_services, postmaster_pid_file = None, None
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get(
        "REDIS_URL"
    ):
        stop_services, postmaster_pid_file = start_services()
    var_dir = None
    if not os.environ.get("VAR_DIR"):
        var_dir = os.environ["VAR_DIR"] = tempfile.mkdtemp(prefix="portal-bench-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "partnerportal.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # As in production: no debug cursor or debug pages. The bench client is held to a rate it
    # never reaches (DRF keeps one timestamp per request in the window: thousands cost ~0.1 ms).
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("API_THROTTLE_RATE", "10000000/min")
    processes = []  # gunicorn and workers, appended as soon as they start, stopped below
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        use_bench_urls()
        if args.part in ("all", "lists"):
            lists(args, postmaster_pid_file, processes)
        if args.part in ("all", "fanout"):
            fanout(args, processes)
    finally:
        for process in processes:
            stop_process(process)
        if stop_services:
            stop_services()
        if var_dir:
            shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
