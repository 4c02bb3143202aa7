"""The customer search's trigram index (customers/migrations/0005): PostgreSQL answers the
search's ``LIKE '%text%'`` from it rather than by reading every customer."""

import pytest
from django.db import connection

from customers.models import Customer
from tests.customers.factories import CustomerFactory

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the trigram index exists on PostgreSQL only"
)


def plan_of(queryset):
    """PostgreSQL's plan for ``queryset``, with whole-table and ordered index scans priced out:
    on a handful of test rows those are cheaper, and the question is whether the trigram index
    can answer at all (a bitmap scan needs an index that matches the condition)."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_the_search_is_answered_from_the_trigram_index(db):
    target = CustomerFactory(company_name="Fabrikam Lojistik", other_domains=["fabrikam.com.tr"])
    CustomerFactory(company_name="Contoso")
    found = Customer.objects.search("LOJISTIK")

    assert list(found) == [target]
    assert "customers_customer_search_trgm" in plan_of(found)
