"""Microsoft Graph service-communications simulator: service health of many tenants at once.

Routes (``{tenant}`` is a tenant id; every GET answers with the data of the tenant whose token
it carries: one from the token route below, or, with ``entra=EntraSimulator``, the partner's
refresh token redeemed in a customer tenant, as GDAP reads do):
  POST /{tenant}/oauth2/v2.0/token                                   client credentials
  GET  /v1.0/admin/serviceAnnouncement/healthOverviews                ?$expand=issues
  GET  /v1.0/admin/serviceAnnouncement/healthOverviews/{service}      id or name
  GET  /v1.0/admin/serviceAnnouncement/healthOverviews/{service}/issues
  GET  /v1.0/admin/serviceAnnouncement/issues                         paged collection
  GET  /v1.0/admin/serviceAnnouncement/issues/{id}

Shapes follow Microsoft's documentation of ``serviceHealth``, ``serviceHealthIssue``,
``serviceHealthIssuePost`` and ``itemBody``. Issue collections support ``$filter`` (comparisons
on the date fields, ``isResolved``/``highImpact`` and the string fields, joined by ``and``; e.g.
``lastModifiedDateTime ge 2026-11-27T08:00:00Z``), ``$top`` or ``Prefer: odata.maxpagesize``,
``$skip``, ``$select`` and ``$count``; pages are joined by an absolute ``@odata.nextLink`` whose
``$skiptoken`` is a keyset cursor, so a walk returns every issue once even while issues change.

Microsoft publishes an issue once and shows it to every tenant it affects: the simulator keeps a
catalogue of issues, each with the set of tenant ids it affects. An issue is a timeline of steps
(status changes with a post each) on a scenario clock: real time plus whatever tests add with
``advance``; what is served is the issue as of ``now()``. A tenant's health overview per
service is the worst status of its unresolved incidents there, else ``serviceOperational``.

``scenarios.demo`` builds the scenario ``make run`` serves; ``scenarios.bulk`` a large
deterministic one for benchmarks (``latency=0.1``: every answer waits 100 ms, as Graph's do
over the Internet, without holding the simulator's lock). Tests script faults with ``fail_next`` (optionally for one
tenant only), a tenant's 403 with ``refuse_tenant`` (Graph's error shape and code), and read
``requests``. Standard library only.

Modules, from the bottom: ``model`` (vocabularies, time formats, tenants and issues), ``errors``
and ``odata`` (error bodies, query options), ``catalogue`` (the scenario and its clock),
``server`` (``ServiceHealthSimulator``, the WSGI app), ``demo_issues`` and ``scenarios``.
This package imports none of them, so import each name from its module.
"""
