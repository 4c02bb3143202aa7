from django.urls import path

from microsoft import views

app_name = "microsoft"

urlpatterns = [
    path("microsoft/", views.connection_page, name="connection"),
    path("microsoft/redeem/", views.redeem_now, name="redeem"),
    path("microsoft/consent/", views.consent_start, name="consent"),
    path("microsoft/consent/callback/", views.consent_callback, name="consent_callback"),
    path("microsoft/test/<slug:api>/", views.test_api, name="test_api"),
]
