"""Vendor-staff pages of requests (the lockbox), mounted at /staff/requests/."""

from django.urls import path

from apps.requests import views_staff

app_name = "staff_requests"

urlpatterns = [
    path("", views_staff.home, name="home"),
    path("new/", views_staff.request_new, name="new"),
    path("break-glass/", views_staff.break_glass, name="break_glass"),
    path("inbox/", views_staff.inbox, name="inbox"),
    path("link/<str:token>/", views_staff.link, name="link"),
    path("<int:request_id>/", views_staff.detail, name="detail"),
    path("<int:request_id>/decide/", views_staff.decide, name="decide"),
    path("<int:request_id>/relinquish/", views_staff.relinquish, name="relinquish"),
    path("<int:request_id>/review/", views_staff.review, name="review"),
]
