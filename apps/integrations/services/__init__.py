"""Writes of the integrations app (one module per concern: api_keys, oauth, webhooks, alerts,
calls, authn, housekeeping)."""
