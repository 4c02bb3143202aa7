from django.urls import path

from servicerequests.views import admin, opening, requests

app_name = "servicerequests"

urlpatterns = [
    # Service requests, by their number (SR-000123).
    path("service-requests/", requests.service_request_list, name="list"),
    path("service-requests/new/", opening.service_request_create, name="create"),
    path("service-requests/route-preview/", opening.route_preview, name="route_preview"),
    path("service-requests/<str:number>/", requests.service_request_detail, name="detail"),
    path("service-requests/<str:number>/note/", requests.service_request_note, name="note"),
    path("service-requests/<str:number>/status/", requests.service_request_status, name="status"),
    path("service-requests/<str:number>/assign/", requests.service_request_assign, name="assign"),
    path(
        "service-requests/<str:number>/reference/",
        requests.service_request_reference,
        name="reference",
    ),
    path("service-requests/<str:number>/retry/", requests.service_request_retry, name="retry"),
    # Administration (Global admins): channels, routing rules, support topics.
    path("support/channels/", admin.channel_list, name="channel_list"),
    path("support/channels/new/", admin.channel_create, name="channel_create"),
    path("support/channels/<int:pk>/", admin.channel_edit, name="channel_edit"),
    path("support/routing/", admin.rule_list, name="rule_list"),
    path("support/routing/new/", admin.rule_edit, name="rule_create"),
    path("support/routing/test/", admin.routing_test, name="routing_test"),
    path("support/routing/<int:pk>/", admin.rule_edit, name="rule_edit"),
    path("support/routing/<int:pk>/move/", admin.rule_move, name="rule_move"),
    path("support/routing/<int:pk>/toggle/", admin.rule_toggle, name="rule_toggle"),
    path("support/topics/", admin.topic_list, name="topic_list"),
    path("support/topics/new/", admin.topic_edit, name="topic_create"),
    path("support/topics/<int:pk>/", admin.topic_edit, name="topic_edit"),
]
