from django.urls import path

from microsoft import views

app_name = "microsoft"

urlpatterns = [
    path("microsoft/", views.connection_page, name="connection"),
    path("microsoft/redeem/", views.redeem_now, name="redeem"),
]
