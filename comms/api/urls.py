"""The comms part of the API; config/api_urls.py puts it under /api/v1/."""

from comms.api import views

routes = [
    ("audiences", views.AudienceViewSet, "api-audience"),
    ("stakeholders", views.StakeholderViewSet, "api-stakeholder"),
    ("communication-plans", views.CommunicationPlanViewSet, "api-communication-plan"),
    ("messages", views.MessageViewSet, "api-message"),
    ("notices", views.NoticeViewSet, "api-notice"),
]

urlpatterns: list = []
