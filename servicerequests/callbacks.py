"""The signed status callback of webhook channels: ``POST /api/v1/service-requests/callbacks/<id>/``.

Authenticated by the signature alone (Standard Webhooks, see ``servicerequests.channel_updates``; no
session, no token), so it is exempt from CSRF; every refusal answers 401 with a generic body and
is logged with its reason.
"""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from servicerequests import channel_updates
from servicerequests.models import Channel

MAX_BODY = 64 * 1024


@csrf_exempt
@require_POST
def channel_callback(request, channel_id):
    channel = Channel.objects.filter(pk=channel_id, kind="webhook", enabled=True).first()
    if channel is None or len(request.body) > MAX_BODY:
        return JsonResponse({"error": "refused"}, status=401)
    try:
        service_request = channel_updates.handle_callback(channel, request.headers, request.body)
    except channel_updates.CallbackRejected:
        return JsonResponse({"error": "refused"}, status=401)
    return JsonResponse({"number": service_request.number, "status": service_request.status})
