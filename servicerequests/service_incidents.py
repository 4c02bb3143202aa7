"""Partner Center's legacy service incidents (``GET /v1/serviceincidents/office``), read where
the API still answers. Service health comes from Graph (``servicehealth``); this older view is
read alongside, daily, and where Partner Center answers 404 it is recorded quietly as not
available (a log line at INFO), not as a failure."""

import logging
from dataclasses import dataclass, field

from microsoft.services import connection_ready
from servicerequests.channels.base import ChannelError
from servicerequests.support_topics import connection_channel

logger = logging.getLogger(__name__)


@dataclass
class ServiceIncidents:
    available: bool
    incidents: list = field(default_factory=list)  # ServiceIncidentDetail objects, as sent
    error: str = ""


def read_service_incidents():
    """Every workload's incidents, or why there are none (``available=False``)."""
    if not connection_ready():
        return ServiceIncidents(False, error="Microsoft is not connected.")
    try:
        workloads = connection_channel().adapter().service_incidents()
    except ChannelError as exc:
        logger.warning("Partner Center's service incidents not read: %s", exc)
        return ServiceIncidents(False, error=str(exc))
    if workloads is None:
        logger.info("Partner Center's service incidents are not available (404)")
        return ServiceIncidents(False)
    incidents = [
        incident
        for workload in workloads
        if isinstance(workload, dict)
        for incident in workload.get("incidents") or []
        if isinstance(incident, dict)
    ]
    logger.info("Partner Center's service incidents: %s", len(incidents))
    return ServiceIncidents(True, incidents)
