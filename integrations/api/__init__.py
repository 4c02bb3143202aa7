"""The integrations REST API: viewsets in ``views``, serializers in ``serializers``, OpenAPI
examples in ``schema``, the router in ``urls``."""
