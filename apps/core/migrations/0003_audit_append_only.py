"""The audit log is append-only: PostgreSQL refuses UPDATE and DELETE on events.

The one permitted UPDATE is pseudonymisation after retention: it may replace the personal
details (and drop their salt) of a not-yet-pseudonymised event, and nothing else, so the
chain's hashes still verify (the event keeps `personal_digest`).
"""

from django.db import migrations

FORWARD = r"""
CREATE OR REPLACE FUNCTION custos_audit_append_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'audit events are append-only: DELETE refused (seq %, chain %)', OLD.seq, OLD.chain
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF TG_OP = 'UPDATE' THEN
    IF OLD.pseudonymised_at IS NULL AND NEW.pseudonymised_at IS NOT NULL
       AND NEW.id = OLD.id AND NEW.chain = OLD.chain AND NEW.seq = OLD.seq
       AND NEW.occurred_at = OLD.occurred_at AND NEW.tenant_id IS NOT DISTINCT FROM OLD.tenant_id
       AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id
       AND NEW.on_behalf_of_id IS NOT DISTINCT FROM OLD.on_behalf_of_id
       AND NEW.action = OLD.action AND NEW.outcome = OLD.outcome
       AND NEW.target_type = OLD.target_type AND NEW.target_id = OLD.target_id
       AND NEW.request_id = OLD.request_id AND NEW.personal_digest = OLD.personal_digest
       AND NEW.prev_hash = OLD.prev_hash AND NEW.hash = OLD.hash THEN
      RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: UPDATE refused (seq %, chain %)', OLD.seq, OLD.chain
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS custos_audit_append_only ON core_auditevent;
CREATE TRIGGER custos_audit_append_only
  BEFORE UPDATE OR DELETE ON core_auditevent
  FOR EACH ROW EXECUTE FUNCTION custos_audit_append_only();

DROP TRIGGER IF EXISTS custos_checkpoint_append_only ON core_auditcheckpoint;
CREATE OR REPLACE FUNCTION custos_checkpoint_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'audit checkpoints are append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER custos_checkpoint_append_only
  BEFORE UPDATE OR DELETE ON core_auditcheckpoint
  FOR EACH ROW EXECUTE FUNCTION custos_checkpoint_append_only();
"""

BACKWARD = r"""
DROP TRIGGER IF EXISTS custos_audit_append_only ON core_auditevent;
DROP TRIGGER IF EXISTS custos_checkpoint_append_only ON core_auditcheckpoint;
DROP FUNCTION IF EXISTS custos_audit_append_only();
DROP FUNCTION IF EXISTS custos_checkpoint_append_only();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("core", "0002_initial")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
