-- hotspot-radius: tenants, for platforms that keep the routers, users and packages of many
-- customers in one database. Additive, like 0002: every new column is nullable and NULL
-- means "global", so a database without tenants answers exactly as before (and as
-- FreeRADIUS would).
--
-- A request's tenant is the tenant of the NAS entry it came from. Within a tenant:
-- - a username is the tenant's own when the tenant has at least one radcheck, radreply or
--   radusergroup row for it; then only the tenant's rows of those three tables are used.
--   Otherwise the global rows (tenant NULL) of that username are used.
-- - each group name of the user's memberships is the tenant's own when the tenant has at
--   least one radgroupcheck or radgroupreply row for it; then only the tenant's rows of
--   those two tables are used, else the global ones.
-- A NAS without a tenant sees global rows only.

ALTER TABLE nas ADD COLUMN IF NOT EXISTS tenant text;
ALTER TABLE radcheck ADD COLUMN IF NOT EXISTS tenant text;
ALTER TABLE radreply ADD COLUMN IF NOT EXISTS tenant text;
ALTER TABLE radusergroup ADD COLUMN IF NOT EXISTS tenant text;
ALTER TABLE radgroupcheck ADD COLUMN IF NOT EXISTS tenant text;
ALTER TABLE radgroupreply ADD COLUMN IF NOT EXISTS tenant text;
ALTER TABLE radacct ADD COLUMN IF NOT EXISTS tenant text;
ALTER TABLE radacct_history ADD COLUMN IF NOT EXISTS tenant text;
ALTER TABLE radpostauth ADD COLUMN IF NOT EXISTS tenant text;

-- The view was made with `SELECT *` of the columns of its time: add the new one.
CREATE OR REPLACE VIEW radacct_all AS
    SELECT * FROM radacct UNION ALL SELECT * FROM radacct_history;

-- Tenant names go into cache keys, notification payloads, session-store keys and metric
-- labels: letters, digits, `.`, `_` and `-`, 1 to 64 characters, so every one of those
-- formats stays unambiguous.
ALTER TABLE nas ADD CONSTRAINT nas_tenant_check
    CHECK (tenant ~ '^[A-Za-z0-9._-]{1,64}$');
ALTER TABLE radcheck ADD CONSTRAINT radcheck_tenant_check
    CHECK (tenant ~ '^[A-Za-z0-9._-]{1,64}$');
ALTER TABLE radreply ADD CONSTRAINT radreply_tenant_check
    CHECK (tenant ~ '^[A-Za-z0-9._-]{1,64}$');
ALTER TABLE radusergroup ADD CONSTRAINT radusergroup_tenant_check
    CHECK (tenant ~ '^[A-Za-z0-9._-]{1,64}$');
ALTER TABLE radgroupcheck ADD CONSTRAINT radgroupcheck_tenant_check
    CHECK (tenant ~ '^[A-Za-z0-9._-]{1,64}$');
ALTER TABLE radgroupreply ADD CONSTRAINT radgroupreply_tenant_check
    CHECK (tenant ~ '^[A-Za-z0-9._-]{1,64}$');

-- Tenant-scoped reads (the profile load filters the per-username rows it already reads
-- by index; these serve the admin listings and group invalidation of a tenant).
CREATE INDEX IF NOT EXISTS radcheck_tenant_username_idx ON radcheck (tenant, username)
    WHERE tenant IS NOT NULL;
CREATE INDEX IF NOT EXISTS radusergroup_tenant_groupname_idx ON radusergroup (tenant, groupname)
    WHERE tenant IS NOT NULL;
CREATE INDEX IF NOT EXISTS radacct_open_tenant_username_idx ON radacct (tenant, username)
    WHERE acctstoptime IS NULL AND tenant IS NOT NULL;

-- Notifications, keyed by (tenant, name). Rows without a tenant keep the payloads of 0002
-- (`user:<username>`, `group:<groupname>`), so an older server still understands them;
-- rows of a tenant send `tenant-user:<tenant>:<username>` and
-- `tenant-group:<tenant>:<groupname>` (a tenant name never holds `:`).
CREATE OR REPLACE FUNCTION hotspot_radius_scoped(kind text, tenant text, name text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN tenant IS NULL THEN kind || ':' || name
                ELSE 'tenant-' || kind || ':' || tenant || ':' || name END
$$;

CREATE OR REPLACE FUNCTION hotspot_radius_notify_user() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' OR TG_OP = 'DELETE' THEN
        PERFORM hotspot_radius_notify(hotspot_radius_scoped('user', OLD.tenant, OLD.username));
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND (NEW.username IS DISTINCT FROM OLD.username
                                                 OR NEW.tenant IS DISTINCT FROM OLD.tenant)) THEN
        PERFORM hotspot_radius_notify(hotspot_radius_scoped('user', NEW.tenant, NEW.username));
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION hotspot_radius_notify_group() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' OR TG_OP = 'DELETE' THEN
        PERFORM hotspot_radius_notify(hotspot_radius_scoped('group', OLD.tenant, OLD.groupname));
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND (NEW.groupname IS DISTINCT FROM OLD.groupname
                                                 OR NEW.tenant IS DISTINCT FROM OLD.tenant)) THEN
        PERFORM hotspot_radius_notify(hotspot_radius_scoped('group', NEW.tenant, NEW.groupname));
    END IF;
    RETURN NULL;
END
$$;
