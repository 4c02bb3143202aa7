"""Demo data for `make run`: one login per role, then each app's demo records (customers,
feed sources and health, support channels and service requests, PSA connections and webhooks,
the Microsoft connection)."""

from django.conf import settings
from django.contrib.auth.models import Group

from accounts.models import User
from accounts.roles import Role
from demo import customers, integrations, microsoft, servicehealth, servicerequests, sso

DEMO_PASSWORD = "demo-password"  # noqa: S105 - demo data only, refused in production

DEMO_USERS = [
    ("globaladmin@example.com", "Gül Yılmaz", Role.GLOBAL_ADMIN),
    ("usermanager@example.com", "Umut Kaya", Role.USER_MANAGEMENT_ADMIN),
    ("adminagent@example.com", "Ada Demir", Role.ADMIN_AGENT),
    ("helpdesk@example.com", "Hakan Şahin", Role.HELPDESK_AGENT),
]


def load():
    if settings.PRODUCTION:
        raise RuntimeError("Demo data is never loaded in production.")
    created = 0
    for email, full_name, role in DEMO_USERS:
        user, was_created = User.objects.get_or_create(
            email=email, defaults={"full_name": full_name}
        )
        if was_created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
            created += 1
        user.groups.set([Group.objects.get(name=role.value)])
    summary = [f"Demo users: {created} created, {len(DEMO_USERS) - created} already there."]
    # Customers first: the other apps' demo records are for the demo customers.
    summary.extend(customers.load())
    summary.extend(servicehealth.load())
    summary.extend(servicerequests.load())
    summary.extend(integrations.load())
    summary.extend(microsoft.load())
    summary.extend(sso.load())
    return summary
