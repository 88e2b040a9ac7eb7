"""Portal pages of requests, mounted at /t/<tenant>/requests/."""

from django.urls import path

from apps.requests import views

app_name = "requests"

urlpatterns = [
    path("", views.request_list, name="list"),
    path("catalog/", views.catalog, name="catalog"),
    path("new/", views.request_new, name="new"),
    path("access/", views.my_access, name="my_access"),
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/bulk-approve/", views.bulk_approve, name="bulk_approve"),
    path("vendor-access/", views.vendor_access, name="vendor_access"),
    path("service-levels/", views.service_levels, name="service_levels"),
    path("notifications/", views.notifications, name="notifications"),
    path("delegates/", views.delegates, name="delegates"),
    path("link/<str:token>/", views.link, name="link"),
    path("<int:request_id>/", views.request_detail, name="detail"),
    path("<int:request_id>/cancel/", views.request_cancel, name="cancel"),
    path("<int:request_id>/relinquish/", views.request_relinquish, name="relinquish"),
    path("<int:request_id>/decide/", views.decide, name="decide"),
    path("<int:request_id>/revoke/", views.revoke, name="revoke"),
    path("<int:request_id>/review/", views.review, name="review"),
]
