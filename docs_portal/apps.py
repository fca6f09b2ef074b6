from django.apps import AppConfig


class DocsPortalConfig(AppConfig):
    name = "docs_portal"
    verbose_name = "Docs portal"
