-- Change notices between replicas exist on PostgreSQL only (triggers calling `pg_notify`): an
-- embedded SQLite database has one process, which applies its own changes in memory. This
-- migration keeps the two dialects' numbering identical.
SELECT 1;
