from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include("config.api_urls")),
    path("u/", include("comms.urls_public")),
    path("comms/", include("comms.urls_plan")),
    path("comms/", include("comms.urls")),
    path("docs/", include("docs_portal.urls")),
    path("briefings/", include("docs_portal.urls_briefings")),
    path("feeds/", include("docs_portal.urls_feeds")),
    path("flags/", include("flags.urls")),
    path("ofrep/v1/", include("flags.urls_ofrep")),
    path("", include("ops.urls")),
    path("", include("rollouts.urls")),
]
