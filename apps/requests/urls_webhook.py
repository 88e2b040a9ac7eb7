"""Inbound webhooks of the requests app, mounted at /webhooks/tickets/."""

from django.urls import path

from apps.requests import views_webhook

app_name = "requests_webhooks"

urlpatterns = [
    path("<slug:slug>/", views_webhook.ticket_webhook, name="tickets"),
]
