"""The service-request pages, one module per group: ``requests`` (the list and one request, for
agents), ``opening`` (the create form and its route preview) and ``admin`` (channels, routing
rules and support topics, for Global admins)."""
