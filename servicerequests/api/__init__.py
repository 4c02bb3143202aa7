"""The service requests API: ``views`` (thin viewsets with their operations' summaries),
``serializers`` (requests, notes, timeline), ``admin_serializers`` (topics, channels, routing
rules), ``schema`` (the OpenAPI examples and shared texts) and ``urls`` (the router)."""
