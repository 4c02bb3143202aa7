"""Administer services: each admin portal's link in the form partner tools use, the SharePoint
admin URL only from Graph, and Microsoft's own links preferred where it gave them."""

import uuid

from customers.choices import ServiceFamilyChoices as Family
from customers.models import Customer
from customers.service_links import links_for

TENANT = uuid.UUID("4fdbff88-9d6b-42e0-9713-45c922ba8001")
EVERY_FAMILY = list(Family)


def customer(**fields):
    fields = {
        "tenant_id": TENANT,
        "company_name": "Contoso",
        "default_domain": "contoso.com",
        "initial_domain": "contoso.onmicrosoft.com",
        **fields,
    }
    return Customer(**fields)


def test_each_link_has_the_form_partner_tools_use():
    links = {link.name: link.url for link in links_for(customer(), EVERY_FAMILY)}
    assert links == {
        "Microsoft 365 admin center": "https://admin.cloud.microsoft/?delegatedOrg=contoso.onmicrosoft.com",
        "Exchange admin center": "https://admin.cloud.microsoft/exchange?delegatedOrg=contoso.onmicrosoft.com",
        "Teams admin center": "https://admin.teams.microsoft.com/?delegatedOrg=contoso.onmicrosoft.com",
        "Microsoft Entra admin center": f"https://entra.microsoft.com/{TENANT}",
        "Microsoft Intune admin center": f"https://intune.microsoft.com/{TENANT}",
        "Azure portal": f"https://portal.azure.com/{TENANT}",
        "Microsoft Defender portal": f"https://security.microsoft.com/?tid={TENANT}",
        "Microsoft Purview portal": f"https://purview.microsoft.com/?tid={TENANT}",
        "Power Platform admin center": f"https://admin.powerplatform.microsoft.com/account/login/{TENANT}",
    }


def test_sharepoint_comes_from_graph_never_from_the_domain():
    without = {link.name for link in links_for(customer(), [Family.MICROSOFT_365])}
    assert "SharePoint admin center" not in without
    graph = customer(sharepoint_admin_url="https://contoso-admin.sharepoint.com/")
    links = {link.name: link.url for link in links_for(graph, [Family.MICROSOFT_365])}
    assert links["SharePoint admin center"] == "https://contoso-admin.sharepoint.com/"


def test_without_an_initial_domain_only_tenant_id_links_are_given():
    typed = customer(initial_domain="", default_domain="fabrikam.com")
    names = {link.name for link in links_for(typed, EVERY_FAMILY)}
    assert "Teams admin center" not in names and "Exchange admin center" not in names
    assert "Microsoft Entra admin center" in names
    # An onmicrosoft.com domain typed in for the customer is its initial domain.
    typed.other_domains = ["fabrikam.onmicrosoft.com"]
    teams = {link.name: link.url for link in links_for(typed, EVERY_FAMILY)}["Teams admin center"]
    assert teams == "https://admin.teams.microsoft.com/?delegatedOrg=fabrikam.onmicrosoft.com"


def test_microsoft_links_are_preferred_and_extra_ones_listed():
    given = customer(
        microsoft_links=[
            {
                "service": "Teams",
                "url": "https://admin.teams.microsoft.com/?delegatedOrg=x.example",
            },
            {"service": "Microsoft 365 Lighthouse", "url": "https://lighthouse.microsoft.com"},
        ]
    )
    links = {link.name: link for link in links_for(given, [Family.AZURE])}
    teams = links["Teams admin center"]
    assert (teams.url, teams.from_microsoft) == (
        "https://admin.teams.microsoft.com/?delegatedOrg=x.example",
        True,
    )
    assert links["Microsoft 365 Lighthouse"].url == "https://lighthouse.microsoft.com"
    assert not links["Azure portal"].from_microsoft
    assert "Exchange admin center" not in links  # no Microsoft 365 subscription, no link given
