"""The portal's pages across apps: the dashboard, the events page, the audit log, and the
navigation. It sits on top of the other apps and may import any of them; none imports it."""
