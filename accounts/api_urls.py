from django.urls import path

from accounts.api import MeView, RotateTokenView

urlpatterns = [
    path("me/", MeView.as_view(), name="me"),
    path("me/rotate-token/", RotateTokenView.as_view(), name="me-rotate-token"),
]
