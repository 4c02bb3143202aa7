from django.urls import path

from sso import views

app_name = "sso"

urlpatterns = [
    path("sso/", views.settings_page, name="settings"),
    path("sso/test/", views.test_start, name="test_start"),
    path("sso/test/result/", views.test_result, name="test_result"),
]
