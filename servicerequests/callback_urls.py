from django.urls import path

from servicerequests.callbacks import channel_callback

app_name = "servicerequests-callbacks"

urlpatterns = [
    path("<int:channel_id>/", channel_callback, name="channel"),
]
