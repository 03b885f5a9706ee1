from django.apps import AppConfig


class FrontendConfig(AppConfig):
    """The web UI: server-rendered page shells; every piece of data comes from the JSON API."""

    name = "frontend"
    verbose_name = "Web UI"
