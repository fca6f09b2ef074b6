"""The flags part of the API; config/api_urls.py puts it under /api/v1/. (OFREP, which
applications evaluate flags with, is /ofrep/v1/, outside this API.)"""

from flags.api import views

routes = [
    ("flags", views.FlagViewSet, "api-flag"),
    ("segments", views.SegmentViewSet, "api-segment"),
]

urlpatterns: list = []
