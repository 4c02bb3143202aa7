"""The customer sync from Microsoft: its page (state, recent runs) and "Sync now"."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.permissions import capability_required
from accounts.roles import Capability
from customers import partner_center_sync
from customers.models import CustomerSyncRun, PartnerCenterSyncState

VIEW = Capability.VIEW_SUPPORT
MANAGE = Capability.MANAGE_CUSTOMERS
RUNS_SHOWN = 20


@capability_required(VIEW)
def sync_page(request):
    state = PartnerCenterSyncState.get()
    runs = list(CustomerSyncRun.objects.select_related("requested_by")[:RUNS_SHOWN])
    return render(
        request,
        "customers/sync.html",
        {
            "state": state,
            "runs": runs,
            "latest": runs[0] if runs else None,
            # The page refreshes itself while a run is asked for or under way.
            "in_progress": state.is_queued or state.is_running,
            "can_manage": request.user.has_capability(MANAGE),
        },
    )


@require_POST
@capability_required(VIEW, write=MANAGE)
def sync_now(request):
    """Ask a worker to read the customers from Microsoft now."""
    try:
        partner_center_sync.queue(requested_by=request.user)
    except Exception:  # the broker is down: say so; beat runs the sync when it is back
        messages.error(request, _("The background workers cannot be reached; try again later."))
    else:
        messages.success(request, _("Reading customers from Microsoft; this page follows the run."))
    return redirect("customers:sync")
