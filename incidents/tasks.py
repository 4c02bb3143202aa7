# No Celery tasks of its own: incidents are written by servicehealth's feed polls.
