-- hotspot-radius additions to the FreeRADIUS schema. All additive: new columns have
-- defaults, nothing FreeRADIUS or its admin tools read or write changes meaning.

-- Per-NAS CoA/Disconnect port and Message-Authenticator policy.
ALTER TABLE nas ADD COLUMN IF NOT EXISTS coa_port integer NOT NULL DEFAULT 3799;
ALTER TABLE nas ADD COLUMN IF NOT EXISTS require_message_authenticator text NOT NULL DEFAULT 'auto';
ALTER TABLE nas ADD CONSTRAINT nas_require_message_authenticator_check
    CHECK (require_message_authenticator IN ('require', 'auto', 'off'));

-- Which NAS a post-auth row came from.
ALTER TABLE radpostauth ADD COLUMN IF NOT EXISTS nasipaddress inet;

-- Profile loads read rows by user / group in id order.
CREATE INDEX IF NOT EXISTS radcheck_username_id_idx ON radcheck (username, id);
CREATE INDEX IF NOT EXISTS radreply_username_id_idx ON radreply (username, id);
CREATE INDEX IF NOT EXISTS radgroupcheck_groupname_id_idx ON radgroupcheck (groupname, id);
CREATE INDEX IF NOT EXISTS radgroupreply_groupname_id_idx ON radgroupreply (groupname, id);
CREATE INDEX IF NOT EXISTS radusergroup_username_idx ON radusergroup (username, priority);
-- A group change invalidates its members.
CREATE INDEX IF NOT EXISTS radusergroup_groupname_idx ON radusergroup (groupname);
-- Open sessions of a user (Simultaneous-Use seeding, CoA targeting).
CREATE INDEX IF NOT EXISTS radacct_open_username_idx ON radacct (username) WHERE acctstoptime IS NULL;

-- Change notifications on channel `hotspot_radius`, so every instance drops stale cache
-- entries at once. Payloads: `user:<username>`, `group:<groupname>`, `nas`, and `flush`
-- (drop everything: TRUNCATE, or a name too long for NOTIFY's 8000-byte payload limit).
-- PostgreSQL folds identical notifications within one transaction into one.
CREATE OR REPLACE FUNCTION hotspot_radius_notify(payload text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF octet_length(payload) > 7000 THEN
        PERFORM pg_notify('hotspot_radius', 'flush');
    ELSE
        PERFORM pg_notify('hotspot_radius', payload);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION hotspot_radius_notify_user() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' OR TG_OP = 'DELETE' THEN
        PERFORM hotspot_radius_notify('user:' || OLD.username);
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.username IS DISTINCT FROM OLD.username) THEN
        PERFORM hotspot_radius_notify('user:' || NEW.username);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION hotspot_radius_notify_group() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' OR TG_OP = 'DELETE' THEN
        PERFORM hotspot_radius_notify('group:' || OLD.groupname);
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.groupname IS DISTINCT FROM OLD.groupname) THEN
        PERFORM hotspot_radius_notify('group:' || NEW.groupname);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION hotspot_radius_notify_payload() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM hotspot_radius_notify(TG_ARGV[0]);
    RETURN NULL;
END
$$;

CREATE TRIGGER radcheck_notify AFTER INSERT OR UPDATE OR DELETE ON radcheck
    FOR EACH ROW EXECUTE FUNCTION hotspot_radius_notify_user();
CREATE TRIGGER radreply_notify AFTER INSERT OR UPDATE OR DELETE ON radreply
    FOR EACH ROW EXECUTE FUNCTION hotspot_radius_notify_user();
-- A membership change is a change to the user (both old and new name on UPDATE).
CREATE TRIGGER radusergroup_notify AFTER INSERT OR UPDATE OR DELETE ON radusergroup
    FOR EACH ROW EXECUTE FUNCTION hotspot_radius_notify_user();
CREATE TRIGGER radgroupcheck_notify AFTER INSERT OR UPDATE OR DELETE ON radgroupcheck
    FOR EACH ROW EXECUTE FUNCTION hotspot_radius_notify_group();
CREATE TRIGGER radgroupreply_notify AFTER INSERT OR UPDATE OR DELETE ON radgroupreply
    FOR EACH ROW EXECUTE FUNCTION hotspot_radius_notify_group();
CREATE TRIGGER nas_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON nas
    FOR EACH STATEMENT EXECUTE FUNCTION hotspot_radius_notify_payload('nas');

CREATE TRIGGER radcheck_truncate_notify AFTER TRUNCATE ON radcheck
    FOR EACH STATEMENT EXECUTE FUNCTION hotspot_radius_notify_payload('flush');
CREATE TRIGGER radreply_truncate_notify AFTER TRUNCATE ON radreply
    FOR EACH STATEMENT EXECUTE FUNCTION hotspot_radius_notify_payload('flush');
CREATE TRIGGER radusergroup_truncate_notify AFTER TRUNCATE ON radusergroup
    FOR EACH STATEMENT EXECUTE FUNCTION hotspot_radius_notify_payload('flush');
CREATE TRIGGER radgroupcheck_truncate_notify AFTER TRUNCATE ON radgroupcheck
    FOR EACH STATEMENT EXECUTE FUNCTION hotspot_radius_notify_payload('flush');
CREATE TRIGGER radgroupreply_truncate_notify AFTER TRUNCATE ON radgroupreply
    FOR EACH STATEMENT EXECUTE FUNCTION hotspot_radius_notify_payload('flush');
