from django.contrib.auth import authenticate
from django.core.management import call_command

from accounts.models import User
from accounts.roles import Role


def test_demo_data_loads_idempotently_with_one_login_per_role(db, capsys):
    call_command("load_demo")
    call_command("load_demo")
    assert "0 created, 4 already there" in capsys.readouterr().out
    expected = {
        "globaladmin@example.com": Role.GLOBAL_ADMIN,
        "usermanager@example.com": Role.USER_MANAGEMENT_ADMIN,
        "adminagent@example.com": Role.ADMIN_AGENT,
        "helpdesk@example.com": Role.HELPDESK_AGENT,
    }
    assert User.objects.count() == 4
    for email, role in expected.items():
        user = authenticate(email=email, password="demo-password")
        assert user is not None, email
        assert user.roles == [role]
