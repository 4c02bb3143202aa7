from rest_framework.routers import SimpleRouter

from servicerequests.api.views import (
    ChannelViewSet,
    RoutingRuleViewSet,
    ServiceRequestViewSet,
    SupportTopicViewSet,
)

router = SimpleRouter()
router.register("service-requests", ServiceRequestViewSet, basename="service-request")
router.register("support-topics", SupportTopicViewSet, basename="support-topic")
router.register("channels", ChannelViewSet, basename="channel")
router.register("routing-rules", RoutingRuleViewSet, basename="routing-rule")

urlpatterns = router.urls
