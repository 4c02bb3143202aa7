from celery import shared_task

from microsoft import services
from outbound.entra import EntraError

# A transient failure is tried again this much later (or after Microsoft's Retry-After).
RETRY_SECONDS = 15 * 60


@shared_task(bind=True, max_retries=8)
def redeem_refresh_token(self):
    """Beat, weekly: redeem the refresh token so its 90 days never run out.

    Not connected or broken: nothing to do until an admin connects (the page says so). A
    transient failure is recorded and tried again later.
    """
    try:
        services.redeem_refresh_token()
    except services.NotConnected:
        return
    except EntraError as exc:
        if exc.retryable:
            raise self.retry(countdown=exc.retry_after or RETRY_SECONDS) from None
