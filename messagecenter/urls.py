from django.urls import path

from messagecenter import views

app_name = "messagecenter"

urlpatterns = [
    path("messages/", views.message_list, name="list"),
    path("messages/<str:microsoft_id>/", views.message_detail, name="detail"),
]
