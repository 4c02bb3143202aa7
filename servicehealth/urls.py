from django.urls import path

from servicehealth import views

app_name = "servicehealth"

urlpatterns = [
    path("health/", views.health_dashboard, name="dashboard"),
    path("health/status.json", views.health_status, name="status"),
    path("feeds/", views.feed_list, name="feed_list"),
    path("feeds/new/", views.feed_create, name="feed_create"),
    path("feeds/<int:pk>/", views.feed_edit, name="feed_edit"),
    path("feeds/<int:pk>/poll/", views.feed_poll, name="feed_poll"),
    path("feeds/<int:pk>/consent-app/", views.feed_consent_app, name="feed_consent_app"),
]
