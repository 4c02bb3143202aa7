from django.urls import path

from servicerequests import views

app_name = "servicerequests"

urlpatterns = [
    # Service requests, by their number (SR-000123).
    path("service-requests/", views.service_request_list, name="list"),
    path("service-requests/new/", views.service_request_create, name="create"),
    path("service-requests/route-preview/", views.route_preview, name="route_preview"),
    path("service-requests/<str:number>/", views.service_request_detail, name="detail"),
    path("service-requests/<str:number>/note/", views.service_request_note, name="note"),
    path("service-requests/<str:number>/status/", views.service_request_status, name="status"),
    path("service-requests/<str:number>/assign/", views.service_request_assign, name="assign"),
    path(
        "service-requests/<str:number>/reference/",
        views.service_request_reference,
        name="reference",
    ),
    path("service-requests/<str:number>/retry/", views.service_request_retry, name="retry"),
    # Administration (Global admins): channels, routing rules, support topics.
    path("support/channels/", views.channel_list, name="channel_list"),
    path("support/channels/new/", views.channel_create, name="channel_create"),
    path("support/channels/<int:pk>/", views.channel_edit, name="channel_edit"),
    path("support/routing/", views.rule_list, name="rule_list"),
    path("support/routing/new/", views.rule_create, name="rule_create"),
    path("support/routing/test/", views.routing_test, name="routing_test"),
    path("support/routing/<int:pk>/", views.rule_edit, name="rule_edit"),
    path("support/routing/<int:pk>/move/", views.rule_move, name="rule_move"),
    path("support/routing/<int:pk>/toggle/", views.rule_toggle, name="rule_toggle"),
    path("support/topics/", views.topic_list, name="topic_list"),
    path("support/topics/new/", views.topic_create, name="topic_create"),
    path("support/topics/<int:pk>/", views.topic_edit, name="topic_edit"),
]
