-- Auditors narrow the trail by entity, actor or action and read it newest first: each index leads
-- with the filtered column and ends with `seq`, so a filtered page is an index range scan.
CREATE INDEX audit_events_entity_seq ON audit_events (entity_id, seq);
CREATE INDEX audit_events_actor_seq ON audit_events (actor, seq);
CREATE INDEX audit_events_action_seq ON audit_events (action, seq);
