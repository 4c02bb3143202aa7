"""The simulator's data: Microsoft's vocabularies and services, its time formats, and the tenants,
issues and steps a scenario is made of."""

from dataclasses import dataclass, field
from datetime import UTC, datetime

from simulators.scripting import Fault as ScriptedFault

# --- Microsoft's vocabularies ---------------------------------------------------------------

SERVICE_HEALTH_STATUSES = (
    "serviceOperational",
    "investigating",
    "restoringService",
    "verifyingService",
    "serviceRestored",
    "postIncidentReviewPublished",
    "serviceDegradation",
    "serviceInterruption",
    "extendedRecovery",
    "falsePositive",
    "investigationSuspended",
    "resolved",
    "mitigatedExternal",
    "mitigated",
    "resolvedExternal",
    "confirmed",
    "reported",
    "unknownFutureValue",
)
CLASSIFICATIONS = ("advisory", "incident", "unknownFutureValue")
ORIGINS = ("microsoft", "thirdParty", "customer", "unknownFutureValue")
POST_TYPES = ("regular", "quick", "strategic", "unknownFutureValue")

# A step to one of these closes the issue (isResolved, endDateTime) unless it says otherwise.
RESOLVED_STATUSES = frozenset(
    {
        "serviceRestored",
        "postIncidentReviewPublished",
        "falsePositive",
        "resolved",
        "resolvedExternal",
    }
)
# A step to one of these (re)opens it. Values outside both sets leave it as it was.
OPEN_STATUSES = frozenset(SERVICE_HEALTH_STATUSES) - RESOLVED_STATUSES - {"unknownFutureValue"}

# For a tenant's health overview: the worst unresolved incident wins. Unknown values rank as
# "something is wrong" rather than healthy.
SEVERITY = {
    "serviceInterruption": 9,
    "serviceDegradation": 8,
    "extendedRecovery": 7,
    "restoringService": 6,
    "investigating": 5,
    "confirmed": 5,
    "reported": 4,
    "verifyingService": 3,
    "investigationSuspended": 2,
    "mitigated": 2,
    "mitigatedExternal": 2,
}
UNKNOWN_SEVERITY = 4

# Graph's service ids and display names (healthOverviews ``id`` and ``service``), with the prefix
# Microsoft gives the ids of that service's issues.
SERVICES = {
    "Exchange": ("Exchange Online", "EX"),
    "microsoftteams": ("Microsoft Teams", "TM"),
    "SharePoint": ("SharePoint Online", "SP"),
    "OneDriveForBusiness": ("OneDrive for Business", "OD"),
    "OrgLiveID": ("Microsoft Entra", "AD"),
    "Intune": ("Microsoft Intune", "IT"),
    "OSDPPlatform": ("Microsoft 365 suite", "MO"),
    "PowerPlatform": ("Power Platform", "PP"),
    "DynamicsCRM": ("Dynamics 365 Apps", "CR"),
    "Microsoft365Defender": ("Microsoft Defender XDR", "DZ"),
}
CORE_SERVICES = (
    "Exchange",
    "microsoftteams",
    "SharePoint",
    "OneDriveForBusiness",
    "OrgLiveID",
    "OSDPPlatform",
)


# --- time ------------------------------------------------------------------------------------


def service_time(value):
    """Service communications' timestamp style: milliseconds, trailing zeros dropped, Z
    ("2020-11-20T17:56:31.39Z", "2020-11-13T21:00:00Z")."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    fraction = f"{value.microsecond // 1000:03d}".rstrip("0")
    return value.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}Z" if fraction else "Z")


def long_time(value):
    """How Microsoft's posts write times: "Thursday, November 27, 2026, at 9:30 AM UTC"."""
    hour = value.hour % 12 or 12
    return (
        f"{value:%A}, {value:%B} {value.day}, {value.year}, at {hour}:{value:%M} "
        f"{'AM' if value.hour < 12 else 'PM'} UTC"
    )


# --- the model -------------------------------------------------------------------------------


@dataclass
class SimulatedTenant:
    """One tenant as the simulator knows it: the app's credentials there and its services."""

    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    display_name: str = ""
    services: list = field(default_factory=list)  # Graph service ids, in overview order
    issue_ids: set = field(default_factory=set)  # issues that affect this tenant
    # False: the app has no admin consent here: tokens are issued, Graph answers 403.
    consented: bool = True


@dataclass
class IssueStep:
    """One moment in an issue's life: its status from ``at`` on, and the post published then.

    ``resolved``: None derives it from the status (RESOLVED_STATUSES close, OPEN_STATUSES open,
    any other value leaves it as it was). ``content`` None: the status changes without a post.
    """

    at: datetime
    status: str
    content: str | None = None
    post_type: str = "regular"
    resolved: bool | None = None


@dataclass
class SimulatedIssue:
    """A Microsoft issue, published once and shown to every tenant in ``tenant_ids``."""

    id: str
    service_id: str
    title: str
    impact_description: str
    classification: str = "incident"
    origin: str = "microsoft"
    feature: str = ""
    feature_group: str = ""
    high_impact: bool = False
    details: list = field(default_factory=list)  # [{"name", "value"}]
    steps: list = field(default_factory=list)  # IssueStep, in time order
    started: datetime | None = None  # startDateTime; the first step when None
    tenant_ids: set = field(default_factory=set)
    overrides: dict = field(default_factory=dict)  # served values replacing the real ones
    # The state last computed, with what it was computed from and the span of scenario time
    # it holds for (IssueCatalogue._state).
    held_state: tuple | None = field(default=None, repr=False, compare=False)


@dataclass
class IssueState:
    """An issue as of one moment."""

    status: str
    is_resolved: bool
    started: datetime
    ended: datetime | None
    modified: datetime
    posts: list  # IssueStep with content


@dataclass
class Fault(ScriptedFault):
    """``tenant_id``: answer only requests from that tenant. ``truncate_to``: serve the real
    answer cut to that many bytes."""

    tenant_id: str | None = None
    truncate_to: int | None = None

    def __post_init__(self):
        self.tenant_id = str(self.tenant_id) if self.tenant_id is not None else None

    def answers(self, tenant_id):
        return self.tenant_id in (None, tenant_id)
