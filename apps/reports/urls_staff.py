"""Staff console pages of reports, mounted at /staff/reports/."""

from django.urls import path

from apps.reports import views_staff

app_name = "staff_reports"

urlpatterns = [
    path("", views_staff.staff_report_list, name="report_list"),
    path("<int:report_job_id>/", views_staff.staff_report_detail, name="report_detail"),
    path(
        "<int:report_job_id>/download/",
        views_staff.staff_report_download,
        name="report_download",
    ),
]
