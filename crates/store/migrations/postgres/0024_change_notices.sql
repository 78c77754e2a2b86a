-- Change notices between replicas. Every replica keeps what a request needs in memory (keys, users,
-- limits, seats, shares, the use-case registry); a change committed through one replica must reach
-- the others. Each table they load from notifies the channel `fabrique_changes` when a statement
-- changes it, with the schema and the topic to reload as payload (`<schema> <topic>`). A notice is
-- sent at commit only, once per topic and transaction however many rows changed, and never for a
-- rolled-back change. Columns the request path writes behind (keys' last use, users' last activity)
-- send nothing, so metering does not make every replica reload its directory.
CREATE FUNCTION fabrique_change_notice() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('fabrique_changes', current_schema() || ' ' || TG_ARGV[0]);
    RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_changed
    AFTER INSERT OR DELETE OR UPDATE OF owner_kind, owner_id, entity_id, hash, revoked_at,
        classification, models, expires_at, priority, secret_kdf
    ON api_keys FOR EACH STATEMENT EXECUTE FUNCTION fabrique_change_notice('directory');
CREATE TRIGGER users_changed
    AFTER INSERT OR DELETE OR UPDATE OF entity_id, user_name, status, deleted_at
    ON users FOR EACH STATEMENT EXECUTE FUNCTION fabrique_change_notice('directory');
CREATE TRIGGER entities_changed AFTER INSERT OR DELETE OR UPDATE
    ON entities FOR EACH STATEMENT EXECUTE FUNCTION fabrique_change_notice('directory');
CREATE TRIGGER service_accounts_changed AFTER INSERT OR DELETE OR UPDATE
    ON service_accounts FOR EACH STATEMENT EXECUTE FUNCTION fabrique_change_notice('directory');
CREATE TRIGGER role_grants_changed AFTER INSERT OR DELETE OR UPDATE
    ON role_grants FOR EACH STATEMENT EXECUTE FUNCTION fabrique_change_notice('directory');
CREATE TRIGGER user_subjects_changed AFTER INSERT OR DELETE OR UPDATE
    ON user_subjects FOR EACH STATEMENT EXECUTE FUNCTION fabrique_change_notice('directory');
CREATE TRIGGER teams_changed AFTER INSERT OR DELETE OR UPDATE
    ON teams FOR EACH STATEMENT EXECUTE FUNCTION fabrique_change_notice('directory');
CREATE TRIGGER team_members_changed AFTER INSERT OR DELETE OR UPDATE
    ON team_members FOR EACH STATEMENT EXECUTE FUNCTION fabrique_change_notice('directory');

CREATE TRIGGER scim_tokens_changed
    AFTER INSERT OR DELETE OR UPDATE OF entity_id, hash, revoked_at
    ON scim_tokens FOR EACH STATEMENT EXECUTE FUNCTION fabrique_change_notice('scim_tokens');

CREATE TRIGGER rate_limits_changed AFTER INSERT OR DELETE OR UPDATE
    ON rate_limits FOR EACH STATEMENT EXECUTE FUNCTION fabrique_change_notice('limits');
CREATE TRIGGER budgets_changed AFTER INSERT OR DELETE OR UPDATE
    ON budgets FOR EACH STATEMENT EXECUTE FUNCTION fabrique_change_notice('limits');

CREATE TRIGGER seat_pool_changed AFTER INSERT OR DELETE OR UPDATE
    ON seat_pool FOR EACH STATEMENT EXECUTE FUNCTION fabrique_change_notice('seats');
CREATE TRIGGER seat_reservations_changed AFTER INSERT OR DELETE OR UPDATE
    ON seat_reservations FOR EACH STATEMENT EXECUTE FUNCTION fabrique_change_notice('seats');
CREATE TRIGGER seats_changed AFTER INSERT OR DELETE OR UPDATE
    ON seats FOR EACH STATEMENT EXECUTE FUNCTION fabrique_change_notice('seats');
CREATE TRIGGER users_seat_status_changed
    AFTER UPDATE OF status ON users FOR EACH STATEMENT EXECUTE FUNCTION fabrique_change_notice('seats');

CREATE TRIGGER pool_shares_changed AFTER INSERT OR DELETE OR UPDATE
    ON pool_shares FOR EACH STATEMENT EXECUTE FUNCTION fabrique_change_notice('shares');

CREATE TRIGGER use_cases_changed AFTER INSERT OR DELETE OR UPDATE
    ON use_cases FOR EACH STATEMENT EXECUTE FUNCTION fabrique_change_notice('use_cases');
CREATE TRIGGER use_case_versions_changed AFTER INSERT OR DELETE OR UPDATE
    ON use_case_versions FOR EACH STATEMENT EXECUTE FUNCTION fabrique_change_notice('use_cases');
