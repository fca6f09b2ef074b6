"""/api/v1/: every app's REST endpoints on one router, the OpenAPI schema and its docs.

Each app's `api/urls.py` lists its `routes` (resources) and `urlpatterns` (the rest);
rollouts never imports the other apps, so they meet here. Resource paths have no
trailing slash (`/api/v1/releases/7/advance`); the schema and docs pages have one.
"""

from csp.decorators import csp_update
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from comms.api import urls as comms_api
from docs_portal.api import urls as docs_api
from flags.api import urls as flags_api
from rollouts.api import urls as rollouts_api
from rollouts.api.errors import not_found

REDOC_POLICY = {"style-src-elem": ["'self'", "'unsafe-inline'"], "worker-src": ["'self'", "blob:"]}

router = SimpleRouter(trailing_slash=False)
for part in (rollouts_api, comms_api, docs_api, flags_api):
    for prefix, viewset, basename in part.routes:
        router.register(prefix, viewset, basename=basename)

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api_schema"),
    # The split view serves Swagger UI's start-up script as a file (?script), not inline, so
    # the Content-Security-Policy (settings "Security") needs no exception for it.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api_schema"), name="api_docs"),
    # Redoc styles itself by adding <style> elements as it renders (styled-components) and
    # runs its search in a worker it makes from a blob: this page alone allows both. No
    # inline script or eval here either. (Its sidebar logo from cdn.redoc.ly stays blocked.)
    path("redoc/", csp_update(REDOC_POLICY)(SpectacularRedocView.as_view(url_name="api_schema")), name="api_redoc"),
    path("", include(rollouts_api.urlpatterns)),
    path("", include(router.urls)),
    re_path(r"^(?P<rest>.*)$", not_found),
]
