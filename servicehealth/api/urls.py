from rest_framework.routers import SimpleRouter

from servicehealth.api.views import FeedSourceViewSet, HealthViewSet, ServiceViewSet

router = SimpleRouter()
router.register("services", ServiceViewSet, basename="service")
router.register("health", HealthViewSet, basename="health")
router.register("feed-sources", FeedSourceViewSet, basename="feed-source")

urlpatterns = router.urls
