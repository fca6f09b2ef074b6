"""The docs part of the API; config/api_urls.py puts it under /api/v1/."""

from docs_portal.api import views

routes = [("docs", views.DocPageViewSet, "api-doc")]

urlpatterns: list = []
