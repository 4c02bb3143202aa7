from django.db.models import Count, F
from django.shortcuts import get_object_or_404, render

from accounts.permissions import capability_required
from accounts.roles import Capability
from core.filters import menu_choices, values_present
from core.pagination import filtered_page
from customers.filters import filtered_customer
from messagecenter.filters import MessageFilterSet
from messagecenter.models import (
    MessageCategoryChoices,
    MessageFeed,
    MessageSeverityChoices,
    ServiceMessage,
)

VIEW = Capability.VIEW_SUPPORT
PAGE_SIZE = 50
# The latest change by Microsoft first (the messagecenter_recent index).
LIST_ORDER = (F("last_modified_at").desc(nulls_last=True), "-pk")
# Feeds whose last read failed, shown above the list.
FAILING_SHOWN = 20


@capability_required(VIEW)
def message_list(request):
    messages = (
        ServiceMessage.objects.visible_to(request.user)
        .defer("body", "details")
        .annotate(recipient_count=Count("recipients", distinct=True))
        .order_by(*LIST_ORDER)
    )
    filterset = MessageFilterSet(request.GET, queryset=messages)
    categories, severities, services = values_present(
        ServiceMessage.objects.visible_to(request.user), "category", "severity", "services"
    )
    failing = MessageFeed.objects.visible_to(request.user).failing()
    return render(
        request,
        "messagecenter/message_list.html",
        {
            **filtered_page(request, filterset, PAGE_SIZE),
            "categories": menu_choices(MessageCategoryChoices.choices, categories),
            "severities": menu_choices(MessageSeverityChoices.choices, severities),
            "services": sorted(s for s in services if s),
            "customer": filtered_customer(filterset, request.user),
            "failing_feeds": failing[:FAILING_SHOWN],
            "failing_count": failing.count(),
        },
    )


@capability_required(VIEW)
def message_detail(request, microsoft_id):
    message = get_object_or_404(
        ServiceMessage.objects.visible_to(request.user), microsoft_id=microsoft_id
    )
    return render(
        request,
        "messagecenter/message_detail.html",
        {
            "message": message,
            "recipients": message.recipients.by_customer_name(),
        },
    )
