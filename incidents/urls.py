from django.urls import path

from incidents import views

app_name = "incidents"

urlpatterns = [
    path("incidents/", views.incident_list, name="list"),
    path("incidents/<str:microsoft_id>/", views.incident_detail, name="detail"),
    path(
        "incidents/<str:microsoft_id>/acknowledge/", views.incident_acknowledge, name="acknowledge"
    ),
    path("incidents/<str:microsoft_id>/snooze/", views.incident_snooze, name="snooze"),
]
