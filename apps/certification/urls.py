"""Portal pages of certification, mounted at /t/<tenant>/certification/."""

from django.urls import path

from apps.certification import views_portal as v

app_name = "certification"

urlpatterns = [
    path("", v.home, name="home"),
    path("new/", v.campaign_new, name="new"),
    path("campaigns/<int:campaign_id>/", v.dashboard, name="dashboard"),
    path("campaigns/<int:campaign_id>/launch/", v.launch, name="launch"),
    path("campaigns/<int:campaign_id>/close/", v.close, name="close"),
    path("campaigns/<int:campaign_id>/sign-off/", v.sign_off, name="sign_off"),
    path("campaigns/<int:campaign_id>/review/", v.review, name="review"),
    path("campaigns/<int:campaign_id>/review/bulk/", v.bulk, name="bulk"),
    path(
        "campaigns/<int:campaign_id>/items/<int:review_item_id>/decide/",
        v.decide,
        name="decide",
    ),
    path("campaigns/<int:campaign_id>/report.csv", v.report_csv, name="report_csv"),
    path("campaigns/<int:campaign_id>/report.pdf", v.report_pdf, name="report_pdf"),
]
