import base64

# A Standard Webhooks signing secret the PSA receiver simulator verifies with.
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef01234567").decode()
