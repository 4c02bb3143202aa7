from rest_framework.routers import SimpleRouter

from messagecenter.api import ServiceMessageViewSet

router = SimpleRouter()
router.register("messages", ServiceMessageViewSet, basename="message")

urlpatterns = router.urls
