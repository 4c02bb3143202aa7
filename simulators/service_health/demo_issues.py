"""The issues of the demo scenario, written as Microsoft writes them."""

from simulators.service_health.model import long_time


def post_text(title, impact, current, *, scope=None, next_update=None, final=None):
    """A post in the shape Microsoft writes them (plain lines in an html body)."""
    lines = [f"Title: {title}", "", f"User impact: {impact}", ""]
    if final:
        lines += [f"Final status: {current}", ""]
    else:
        lines += [f"Current status: {current}", ""]
    if scope:
        lines += [f"Scope of impact: {scope}", ""]
    if final:
        start, end, root_cause = final
        lines += [
            f"Start time: {long_time(start)}",
            "",
            f"End time: {long_time(end)}",
            "",
            f"Root cause: {root_cause}",
            "",
            "This is the final update for the event.",
        ]
    elif next_update:
        lines += [f"Next update by: {long_time(next_update)}"]
    return "\n".join(lines).strip()


# Each demo issue: when steps happen (minutes from the start of the scenario; negative is in
# the past), with what status and what Microsoft said. "share": which share of the tenants that
# have the service see it (1.0: all of them).
DEMO_ISSUES = [
    {
        "id": "EX982143",
        "service": "Exchange",
        "share": 1.0,
        "high_impact": True,
        "feature": "Outlook on the web",
        "feature_group": "E-Mail and calendar access",
        "title": "Users may be unable to access their mailboxes using Outlook on the web",
        "impact": "Users may be unable to access their mailboxes using Outlook on the web.",
        "scope": "Any user attempting to access their mailbox using Outlook on the web may be "
        "affected. Desktop and mobile clients are not affected.",
        "root_cause": "A recent configuration change to the infrastructure that handles "
        "authentication for Outlook on the web caused requests to time out.",
        "steps": [
            (
                -24,
                "investigating",
                "quick",
                "We're investigating a potential issue with "
                "Outlook on the web and are reviewing service telemetry to determine the scope.",
            ),
            (
                -15,
                "serviceDegradation",
                "regular",
                "We've identified that a recent configuration "
                "change is causing authentication requests for Outlook on the web to time out. "
                "We're preparing to revert the change.",
            ),
            (
                2,
                "restoringService",
                "regular",
                "We've reverted the configuration change and are "
                "monitoring as access returns for affected users.",
            ),
            (
                6,
                "serviceRestored",
                "regular",
                "We've confirmed from telemetry that reverting "
                "the change restored access to Outlook on the web.",
            ),
        ],
    },
    {
        "id": "TM301122",
        "service": "microsoftteams",
        "share": 0.6,
        "high_impact": True,
        "feature": "Teams Components",
        "feature_group": "Meetings",
        "title": "Users may be unable to join Microsoft Teams meetings",
        "impact": "Users may be unable to join Microsoft Teams meetings, or may be disconnected "
        "from meetings in progress.",
        "scope": "Users served through the affected infrastructure in Europe may be impacted.",
        "root_cause": "A section of infrastructure that manages meeting sessions was "
        "performing below acceptable thresholds.",
        "steps": [
            (
                -41,
                "investigating",
                "quick",
                "We're investigating reports that users are unable "
                "to join Microsoft Teams meetings.",
            ),
            (
                -32,
                "serviceInterruption",
                "regular",
                "We've determined that a section of "
                "infrastructure that manages meeting sessions isn't processing requests as "
                "expected. We're redirecting traffic to alternate infrastructure.",
            ),
            (
                4,
                "extendedRecovery",
                "regular",
                "Traffic redirection has completed for most "
                "users, and we're monitoring as the remaining sessions recover.",
            ),
            (
                12,
                "serviceRestored",
                "regular",
                "We've confirmed that meeting join requests are "
                "succeeding for all users after traffic was redirected.",
            ),
        ],
    },
    {
        "id": "SP254133",
        "service": "SharePoint",
        "share": 0.5,
        "feature": "SharePoint Features",
        "feature_group": "SharePoint Features",
        "title": "Users were unable to access some SharePoint Online sites",
        "impact": "Users were unable to access some SharePoint Online sites and the files "
        "stored in them.",
        "scope": "Users whose sites are hosted on the affected infrastructure were impacted.",
        "root_cause": "A code change intended to improve site performance introduced a "
        "regression that caused some site requests to fail.",
        "steps": [
            (
                -3 * 1440,
                "investigating",
                "quick",
                "We're investigating reports of users being "
                "unable to access SharePoint Online sites.",
            ),
            (
                -3 * 1440 + 20,
                "serviceInterruption",
                "regular",
                "We've identified a recent code "
                "change that's causing site requests to fail and we're rolling it back.",
            ),
            (
                -3 * 1440 + 95,
                "serviceRestored",
                "regular",
                "The rollback completed and we've "
                "confirmed that access to the affected sites is restored.",
            ),
            (
                -1440,
                "postIncidentReviewPublished",
                "strategic",
                "A post-incident report has "
                "been published. It describes the root cause and the steps we're taking to "
                "prevent a recurrence.",
            ),
        ],
    },
    {
        "id": "OD311876",
        "service": "OneDriveForBusiness",
        "share": 0.4,
        "classification": "advisory",
        "feature": "Sync",
        "feature_group": "OneDrive for Business",
        "title": "Users may see delays when syncing files with the OneDrive sync client",
        "impact": "Users may see delays of up to an hour before changes sync through the "
        "OneDrive sync client.",
        "scope": "Some users syncing large libraries may notice the delays.",
        "steps": [
            (
                -180,
                "investigating",
                "regular",
                "We're reviewing reports that file changes are slow to sync.",
            ),
            (
                -120,
                "serviceDegradation",
                "regular",
                "We've identified that a processing queue "
                "is backlogged and are adding capacity to process it.",
            ),
        ],
    },
    {
        "id": "IT994521",
        "service": "Intune",
        "share": 0.7,
        "feature": "Reporting",
        "feature_group": "Microsoft Intune",
        "title": "Admins may see delays in device compliance reporting in Microsoft Intune",
        "impact": "Admins may see device compliance states in the Microsoft Intune admin "
        "center that are several hours out of date.",
        "scope": "Admins viewing compliance reports may be affected; device compliance "
        "evaluation itself is not affected.",
        "root_cause": "A reporting pipeline component was processing data slower than "
        "expected after a scheduled update.",
        "steps": [
            (-5, "investigating", "quick", "We're investigating delays in compliance reporting."),
            (
                8,
                "verifyingService",
                "regular",
                "We've restarted the affected reporting "
                "component and are verifying that reports are current.",
            ),
            (
                15,
                "serviceRestored",
                "regular",
                "We've verified that compliance reports are current again.",
            ),
        ],
    },
    {
        "id": "AD876012",
        "service": "OrgLiveID",
        "share": 0.5,
        "origin": "customer",
        "feature": "Multi-factor authentication",
        "feature_group": "Authentication",
        "title": "Some users may be unable to complete multifactor authentication using phone "
        "call verification",
        "impact": "Some users may be unable to complete multifactor authentication (MFA) "
        "using phone call verification.",
        "root_cause": "The reported failures came from a telephony configuration in the "
        "affected organizations; the service operated as designed.",
        "steps": [
            (
                -5 * 1440,
                "investigating",
                "regular",
                "We're investigating reports of phone call verification failures.",
            ),
            (
                -5 * 1440 + 70,
                "falsePositive",
                "regular",
                "Our investigation found that the service is healthy and operating as designed.",
            ),
        ],
    },
    {
        "id": "DZ775309",
        "service": "Microsoft365Defender",
        "share": 0.6,
        "feature": "Alerts",
        "feature_group": "Microsoft Defender XDR",
        "title": "Admins may see delays in alert generation in the Microsoft Defender portal",
        "impact": "Admins may see alerts in the Microsoft Defender portal up to two hours after "
        "the activity that triggered them.",
        "scope": "Alerts generated from endpoint telemetry may be delayed.",
        "steps": [
            (-200, "investigating", "quick", "We're investigating delays in alert generation."),
            (
                -170,
                "serviceDegradation",
                "regular",
                "We've identified a backlog in the "
                "pipeline that processes endpoint telemetry and are adding capacity.",
            ),
            (
                -60,
                "extendedRecovery",
                "regular",
                "The added capacity is processing the "
                "backlog; we expect alert latency to return to normal over the next few hours.",
            ),
        ],
    },
    {
        "id": "PP412890",
        "service": "PowerPlatform",
        "share": 0.5,
        "feature": "Power Automate",
        "feature_group": "Power Platform",
        "title": "Users may be unable to run some Power Automate flows that use the Office 365 "
        "Outlook connector",
        "impact": "Users may see some flows that use the Office 365 Outlook connector fail "
        "with a timeout error.",
        "scope": "Flows that use the Office 365 Outlook connector may be affected.",
        "steps": [
            (3, "investigating", "quick", "We're investigating reports of flow failures."),
            (
                9,
                "serviceDegradation",
                "regular",
                "We've identified that requests from the "
                "connector to Exchange Online are being throttled and are adjusting the limits.",
            ),
        ],
    },
    {
        "id": "CR667120",
        "service": "DynamicsCRM",
        "share": 0.6,
        "feature": "Dynamics 365 Sales",
        "feature_group": "Dynamics 365 Apps",
        "title": "Users may be unable to open some records in Dynamics 365 Sales",
        "impact": "Users may receive an error when opening some opportunity records in "
        "Dynamics 365 Sales.",
        "steps": [
            (
                -300,
                "investigating",
                "regular",
                "We're investigating reports of errors when opening opportunity records.",
            ),
            (
                -240,
                "investigationSuspended",
                "regular",
                "We haven't been able to reproduce the "
                "issue. If your users are affected, please open a service request with the "
                "record ids and the time of the error so we can continue investigating.",
            ),
        ],
    },
    {
        "id": "MO226784",
        "service": "OSDPPlatform",
        "share": 0.3,
        "origin": "thirdParty",
        "feature": "Networking Issues",
        "feature_group": "Networking",
        "title": "Users in South Africa may have experienced latency when accessing Microsoft "
        "365 services",
        "impact": "Users in South Africa may have experienced latency or timeouts when "
        "accessing multiple Microsoft 365 services.",
        "scope": "Users whose traffic is routed through the affected third-party network "
        "provider were impacted.",
        "root_cause": "A third-party network provider experienced a fiber cut that reduced "
        "capacity on routes to Microsoft's network.",
        "steps": [
            (
                -1500,
                "investigating",
                "quick",
                "We're investigating reports of latency for users in South Africa.",
            ),
            (
                -1470,
                "serviceDegradation",
                "regular",
                "We've determined that a third-party "
                "network provider is experiencing an outage and we're rerouting traffic.",
            ),
            (
                -1380,
                "serviceRestored",
                "regular",
                "The network provider restored capacity and "
                "we've confirmed that latency has returned to normal.",
            ),
        ],
    },
    {
        "id": "EX976655",
        "service": "Exchange",
        "share": 0.5,
        "classification": "advisory",
        "feature": "E-Mail timely delivery",
        "feature_group": "E-Mail timely delivery",
        "title": "Some users may have noticed delays receiving email messages from external "
        "senders",
        "impact": "Some users may have noticed delays of up to 30 minutes receiving email "
        "messages from external senders.",
        "root_cause": "A portion of infrastructure that processes inbound mail was "
        "performing below expected thresholds.",
        "steps": [
            (
                -720,
                "serviceDegradation",
                "regular",
                "We're rebalancing inbound mail traffic to "
                "alternate infrastructure to reduce delivery delays.",
            ),
            (
                -660,
                "serviceRestored",
                "regular",
                "We've confirmed that inbound mail is being delivered without delay.",
            ),
        ],
    },
    {
        "id": "TM299871",
        "service": "microsoftteams",
        "share": 0.8,
        "classification": "advisory",
        "feature": "Teams Components",
        "feature_group": "Reporting",
        "title": "Admins may see Microsoft Teams usage reports that are up to 72 hours old",
        "impact": "Admins may see Microsoft Teams usage reports in the Microsoft 365 admin "
        "center that don't include the most recent 72 hours of activity.",
        "steps": [
            (
                -2000,
                "serviceOperational",
                "regular",
                "Usage data is being processed with a "
                "delay; no user activity is affected and reports will catch up automatically. "
                'More information: <a href="https://learn.microsoft.com/microsoft-365/admin/'
                'activity-reports/microsoft-teams-usage-activity">Microsoft Teams usage '
                "activity reports</a>.",
            ),
        ],
    },
    {
        "id": "MO228118",
        "service": "OSDPPlatform",
        "share": 0.4,
        "classification": "advisory",
        "feature": "Portal",
        "feature_group": "Microsoft 365 admin center",
        "title": "Admins may have been unable to view service health in the Microsoft 365 admin "
        "center",
        "impact": "Admins may have been unable to load the Service health page in the "
        "Microsoft 365 admin center.",
        "root_cause": "A recent update to the page introduced a code issue.",
        "steps": [
            (
                -4 * 1440,
                "serviceDegradation",
                "regular",
                "We're rolling back a recent update to the Service health page.",
            ),
            (
                -4 * 1440 + 45,
                "serviceRestored",
                "regular",
                "The rollback has completed and the page loads as expected.",
            ),
            (
                -2 * 1440,
                "postIncidentReviewPublished",
                "strategic",
                "A post-incident report has been published.",
            ),
        ],
    },
]
