"""Portal pages of reports, mounted at /t/<tenant>/reports/."""

from django.urls import path

from apps.reports import views

app_name = "reports"

urlpatterns = [
    path("", views.report_list, name="report_list"),
    path("new/", views.report_new, name="report_new"),
    path("<int:report_job_id>/", views.report_detail, name="report_detail"),
    path("<int:report_job_id>/download/", views.report_download, name="report_download"),
    path("schedules/new/", views.report_schedule_create, name="report_schedule_create"),
    path(
        "schedules/<int:report_schedule_id>/cancel/",
        views.report_schedule_cancel,
        name="report_schedule_cancel",
    ),
    path("portfolio/", views.portfolio_overview, name="portfolio_overview"),
    path("portfolio/<int:subsidiary_id>/", views.portfolio_subsidiary, name="portfolio_subsidiary"),
]
