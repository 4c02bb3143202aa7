# accounts has no background work yet; Celery's autodiscovery finds this module.
