"""Bundled simulators of Microsoft's APIs, served over real HTTP for development and tests.

Never enabled in production: ``manage.py run_simulators`` refuses with DJANGO_ENV=production.
They speak the JSON shapes Microsoft documents, so the portal's clients cannot tell them apart
from the real services except by URL.
"""
