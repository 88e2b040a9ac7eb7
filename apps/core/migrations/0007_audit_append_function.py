"""The audit append as one PostgreSQL function: lock the chain head, hash, insert, advance.

One round trip per append, with plans cached per session (plpgsql), so a chain's head-row lock
is held for this call and the commit only. The hashed body is rendered by
apps.core.audit.hashing.event_hash_template (head/tail around seq, time and prev_hash); the
verifier recomputes every hash in Python from the stored fields.

Row-level security: the function turns the transaction-local cross-tenant switch on for its own
statements and restores the caller's value before it returns.
"""

from django.db import migrations

FORWARD = r"""
CREATE OR REPLACE FUNCTION custos_audit_append(
  p_chain varchar, p_head text, p_tail text, p_tenant_id bigint, p_actor_id bigint,
  p_on_behalf_of_id bigint, p_action varchar, p_outcome varchar, p_target_type varchar,
  p_target_id varchar, p_request_id varchar, p_personal_digest varchar, p_personal jsonb,
  p_personal_salt varchar,
  OUT event_id bigint, OUT event_seq bigint, OUT event_at timestamptz,
  OUT event_prev varchar, OUT event_hash varchar
) AS $$
DECLARE
  v_head_id bigint;
  v_cross text := coalesce(current_setting('app.cross_tenant', true), '');
BEGIN
  PERFORM set_config('app.cross_tenant', 'on', true);
  SELECT id, last_seq + 1, last_hash INTO v_head_id, event_seq, event_prev
    FROM core_auditchainhead WHERE chain = p_chain FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO core_auditchainhead (chain, tenant_id, last_seq, last_hash, updated_at)
      VALUES (p_chain, p_tenant_id, 0, repeat('0', 64), clock_timestamp())
      ON CONFLICT (chain) DO NOTHING;
    SELECT id, last_seq + 1, last_hash INTO v_head_id, event_seq, event_prev
      FROM core_auditchainhead WHERE chain = p_chain FOR UPDATE;
  END IF;
  event_at := clock_timestamp();
  event_hash := encode(pg_catalog.sha256(convert_to(
    p_head || event_seq::text || ',"'
    || to_char(event_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
    || '",' || p_tail || ',"' || event_prev || '"]', 'UTF8')), 'hex');
  INSERT INTO core_auditevent (
    chain, seq, occurred_at, tenant_id, actor_id, on_behalf_of_id, action, outcome,
    target_type, target_id, request_id, personal_digest, prev_hash, personal, personal_salt,
    hash
  ) VALUES (
    p_chain, event_seq, event_at, p_tenant_id, p_actor_id, p_on_behalf_of_id, p_action,
    p_outcome, p_target_type, p_target_id, p_request_id, p_personal_digest, event_prev,
    p_personal, p_personal_salt, event_hash
  ) RETURNING id INTO event_id;
  UPDATE core_auditchainhead
    SET last_seq = event_seq, last_hash = event_hash, updated_at = event_at
    WHERE id = v_head_id;
  PERFORM set_config('app.cross_tenant', v_cross, true);
END;
$$ LANGUAGE plpgsql;
"""

BACKWARD = r"""
DROP FUNCTION IF EXISTS custos_audit_append(
  varchar, text, text, bigint, bigint, bigint, varchar, varchar, varchar, varchar, varchar,
  varchar, jsonb, varchar
);
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("core", "0006_auditevent_fewer_indexes")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
