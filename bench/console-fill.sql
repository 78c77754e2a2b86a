-- bench/console.sh's fill: the group's size in a freshly migrated database, by SQL (psql
-- variables `users`, `records`, `entities`). Ids have the product's form (a prefix and 32 hex
-- digits); user i belongs to entity i % entities and holds a seat; usage records spread evenly
-- over the last 30 days, each by one of the users, of its entity, on one of three models. Users
-- get no search rows: a database upgraded across migration 0033 holds its users so, and the
-- next start writes them.
\set ON_ERROR_STOP 1
BEGIN;
CREATE TEMP TABLE bench_now AS SELECT (extract(epoch FROM now()) * 1000)::bigint AS ms;
INSERT INTO entities (id, slug, name, status, created_at)
SELECT 'ent_' || md5('entity' || e), 'entity-' || e, 'Entity ' || e, 'active', (SELECT ms FROM bench_now)
FROM generate_series(0, :entities - 1) e;
INSERT INTO users (id, entity_id, user_name, email, display_name, status, created_at,
                   user_name_folded, email_folded, display_name_folded, attributes, updated_at,
                   version, last_active_at)
SELECT 'usr_' || md5('user' || i), 'ent_' || md5('entity' || (i % :entities)),
       'user' || i, 'user' || i || '@example.org', name, 'active', now.ms,
       'user' || i, 'user' || i || '@example.org', lower(name), '{}', now.ms, 1,
       now.ms - (i % 45)::bigint * 86400000
FROM generate_series(1, :users) i, bench_now now,
     LATERAL (SELECT (ARRAY['Camille','Louis','Léa','Hugo','Chloé','Jules','Manon','Arthur',
                            'Inès','Gabriel','Sarah','Raphaël','Emma','Adam','Zoé','Lucas'])[1 + i % 16]
                     || ' ' ||
                     (ARRAY['Martin','Bernard','Dubois','Thomas','Robert','Richard','Petit',
                            'Durand','Leroy','Moreau','Simon','Laurent','Lefebvre','Michel',
                            'Garcia','David','Bertrand','Roux','Vincent','Fournier','Morel',
                            'Girard','André','Lefèvre','Mercier','Dupont','Lambert','Bonnet',
                            'François','Martinez','Legrand','Garnier','Faure','Rousseau',
                            'Blanc','Guerin','Muller','Henry','Roussel','Nicolas','Perrin',
                            'Morin','Mathieu','Clement','Gauthier','Dumont','Lopez','Fontaine',
                            'Chevalier','Robin'])[1 + (i / 16) % 50] || ' ' || i AS name) n;
UPDATE seat_pool SET size = :users + 1000;
INSERT INTO seat_pool (id, size, updated_at)
SELECT 1, :users + 1000, ms FROM bench_now WHERE NOT EXISTS (SELECT 1 FROM seat_pool);
INSERT INTO seats (user_id, entity_id, assigned_at)
SELECT id, entity_id, created_at FROM users WHERE user_name LIKE 'user%';
COMMIT;
BEGIN;
INSERT INTO usage_records (request_id, started_at, entity_id, user_id, key_id, operation, model,
                           endpoint, stream, prompt_tokens, completion_tokens, cost_micros,
                           ttft_ms, duration_ms, status, error_code, attempts, classification,
                           hosting)
SELECT 'req_' || g, now.ms - (g::bigint * 2592000000 / :records), 'ent_' || md5('entity' || (u % :entities)),
       'usr_' || md5('user' || u), NULL, 'chat',
       (ARRAY['mistral-small','mistral-medium','codestral'])[1 + g % 3],
       'gpu-' || (g % 4), 1, 200 + g % 800, 50 + g % 400, (250 + g % 1200) * 3,
       80 + g % 300, 400 + g % 5000, CASE WHEN g % 100 = 0 THEN 502 ELSE 200 END,
       CASE WHEN g % 100 = 0 THEN 'upstream_error' END, 1, 'internal', 'on_premises'
FROM generate_series(1, :records) g, bench_now now,
     LATERAL (SELECT 1 + (g::bigint * 7919) % :users AS u) pick;
-- The migrating server rolled the empty hours up: the records above are late for them, and the
-- mark goes back to their first hour as a late batch moves it (`store::rollups`), so that the
-- next server rolls the month up instead of reading it as empty.
UPDATE usage_rollup_marks SET through = (SELECT min(started_at) / 3600000 * 3600000 FROM usage_records)
WHERE name = 'rolled_up' AND through > (SELECT min(started_at) FROM usage_records);
DELETE FROM usage_days WHERE day_end > (SELECT min(started_at) FROM usage_records);
COMMIT;
ANALYZE;
