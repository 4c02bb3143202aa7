from django.apps import AppConfig


class DemoConfig(AppConfig):
    # Installed for its management commands (load_demo, run_simulators); it has no models.
    name = "demo"
