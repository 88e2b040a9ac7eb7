"""Portal pages of licenses, mounted at /t/<tenant>/licenses/."""

from django.urls import path

from apps.licenses import views

app_name = "licenses"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("pools/<int:pool_id>/", views.pool_detail, name="pool_detail"),
    path("pools/<int:pool_id>/allocate/", views.pool_allocate, name="pool_allocate"),
    path("pools/<int:pool_id>/reserve/", views.pool_reserve, name="pool_reserve"),
    path("pools/<int:pool_id>/capacity/", views.pool_capacity, name="pool_capacity"),
    path(
        "pools/<int:pool_id>/seats/<int:seat_id>/release/",
        views.seat_release,
        name="seat_release",
    ),
    path("jobs/<int:job_id>/retry/", views.job_retry, name="job_retry"),
    path("onboard/", views.onboard, name="onboard"),
    path("imports/", views.import_list, name="import_list"),
    path("imports/template.csv", views.import_template, name="import_template"),
    path("imports/<int:import_id>/", views.import_detail, name="import_detail"),
    path("imports/<int:import_id>/start/", views.import_start, name="import_start"),
    path("imports/<int:import_id>/cancel/", views.import_cancel, name="import_cancel"),
    path("imports/<int:import_id>/result.csv", views.import_result, name="import_result"),
    path("reviews/", views.review_list, name="review_list"),
    path("reviews/export.csv", views.review_export, name="review_export"),
    path("reviews/<int:case_id>/", views.review_detail, name="review_detail"),
    path("reviews/<int:case_id>/decide/", views.review_decide, name="review_decide"),
]
