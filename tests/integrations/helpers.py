import base64

# A Standard Webhooks signing secret the PSA receiver simulator verifies with.
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef01234567").decode()


def webhook_form_data(**overrides):
    """What the webhook subscription page is sent: no authentication, a loopback target that
    nothing here connects to, and ``overrides``."""
    return {
        "name": "ConnectWise tickets",
        "target_url": "http://127.0.0.1:9/hook",
        "event_types": ["incident.created", "incident.resolved"],
        "psa": "",
        "customers": "",
        "auth_type": "none",
        "auth_username": "",
        "auth_secret": "",
        "secret": "",
        "is_active": "on",
        **overrides,
    }
