"""Partner Center simulator: the REST API for service requests (support tickets to Microsoft).

Routes (every one needs ``Authorization: Bearer <token>``):
  POST  /v1/servicerequests/{agent-locale}                  create (e.g. ``/en-US``)  -> 201
  GET   /v1/servicerequests                                 the partner's requests
  GET   /v1/servicerequests/supporttopics                   the 14 support topics
  GET   /v1/servicerequests/{servicerequest-id}             one request, with its notes
  PATCH /v1/servicerequests/{servicerequest-id}             add a note, change severity, close
  GET   /v1/customers/{customer-tenant-id}/servicerequests  one customer's requests
  GET   /v1/serviceincidents/office                         legacy service incidents (404
                                                            unless ``service_incidents`` is set)

Tokens: the static ``token``, and with ``entra=`` (an EntraSimulator) every token it minted; an
unknown token, or one ``expire_access_tokens`` expired, gets 401 with
``WWW-Authenticate: Bearer error="invalid_token"``. With ``page_size`` set, lists are paged:
``links.next`` with an ``MS-ContinuationToken`` header, as the .NET SDK follows them. A create's
``Organization`` and ``PrimaryContact`` are kept and shown back.

Shapes are those of the samples in Microsoft's Partner Center developer documentation (copied
in ``docs/reference/partner-center/``): request bodies use PascalCase keys
(``Title``, ``SupportTopicId``, ``NewNote``), responses camelCase; null properties are left out;
collections are ``{"totalCount", "items", "attributes": {"objectType": "Collection"}}``; dates
are written like ``"2016-12-22T20:31:17.24Z"`` (milliseconds, trailing zeros dropped), note dates
without the ``Z`` and a date never set as ``"0001-01-01T00:00:00"``. Errors use the documented
error schema ``{"code", "description", "data", "source"}``.

Creating is idempotent: a POST that repeats the ``MS-RequestId`` or ``Idempotency-Key`` of an
earlier successful one answers the first answer again (same id) and creates nothing; PATCH
likewise. ``created_count(key)`` tells how many requests a key created (at most one).

A request lives on a scenario clock (real time plus whatever ``advance`` adds): after creation it
is ``open``; its schedule (default: ``attention_needed`` with a note from Microsoft Support asking
for details after 10 minutes, ``closed`` after 30) moves it on; a partner note on an
``attention_needed`` request moves it back to ``open``. Tests set a status directly with
``set_status``, script faults with ``fail_next`` and read ``requests`` and ``created``.
Standard library only.

Modules, from the bottom: ``model`` (Microsoft's vocabularies and support topics, requests,
notes, schedules, error bodies and time format), ``headers`` (request headers and bodies),
``store`` (the requests on a scenario clock, with the test hooks) and ``server``
(``PartnerCenterSimulator``, the WSGI app). Import each name from its module; ``Headers`` and
``request_headers`` are also here, for the webhook receiver that reads requests the same way.
"""

from simulators.partner_center.headers import Headers, request_headers

__all__ = ["Headers", "request_headers"]
