"""OFREP under /ofrep/v1/: paths as the protocol spells them, without a trailing slash."""

from django.urls import path

from flags import ofrep

app_name = "ofrep"

urlpatterns = [
    path("evaluate/flags/<str:key>", ofrep.evaluate_flag, name="evaluate"),
    path("evaluate/flags", ofrep.evaluate_flags, name="evaluate_all"),
    path("configuration", ofrep.configuration, name="configuration"),
]
