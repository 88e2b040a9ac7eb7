"""Vendor-staff pages of incidents, mounted at /staff/incidents/."""

from django.urls import path

from apps.incidents import views_staff as v

app_name = "staff_incidents"

urlpatterns = [
    path("", v.incident_list, name="list"),
    path("new/", v.incident_new, name="new"),
    path("<int:incident_id>/", v.incident_detail, name="detail"),
    path("<int:incident_id>/subjects/", v.subject_add, name="subject_add"),
    path("<int:incident_id>/scope/", v.scope_set, name="scope_set"),
    path("<int:incident_id>/tenants/", v.tenant_add, name="tenant_add"),
    path("<int:incident_id>/notes/", v.note_add, name="note_add"),
    path("<int:incident_id>/status/", v.status_set, name="status_set"),
    path("<int:incident_id>/postmortem/", v.postmortem, name="postmortem"),
    path("<int:incident_id>/suspend/", v.suspend, name="suspend"),
    path("<int:incident_id>/suspend/preview.csv", v.suspend_preview_csv, name="suspend_csv"),
    path("<int:incident_id>/restore/", v.restore, name="restore"),
    path("<int:incident_id>/isolation/lift/", v.isolation_lift, name="isolation_lift"),
    path("<int:incident_id>/review/", v.review_create, name="review_create"),
    path("<int:incident_id>/notifications/", v.notification_new, name="notification_new"),
    path("<int:incident_id>/notifications/send/", v.notification_send, name="notification_send"),
    path("<int:incident_id>/policy/", v.policy_change, name="policy_change"),
]
