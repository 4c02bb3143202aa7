from rest_framework.routers import SimpleRouter

from integrations.api.views import (
    PsaCompanyMappingViewSet,
    PsaConnectionViewSet,
    WebhookDeliveryViewSet,
    WebhookSubscriptionViewSet,
)

router = SimpleRouter()
router.register("webhooks", WebhookSubscriptionViewSet, basename="webhook")
router.register("webhook-deliveries", WebhookDeliveryViewSet, basename="webhook-delivery")
router.register("psa-connections", PsaConnectionViewSet, basename="psa-connection")
router.register("psa-mappings", PsaCompanyMappingViewSet, basename="psa-mapping")

urlpatterns = router.urls
