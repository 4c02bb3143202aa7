# Incidents: filled by its own issue (see DESIGN.md for what this app owns).
