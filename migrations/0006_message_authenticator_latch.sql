-- The `auto` Message-Authenticator latch, persisted (BlastRADIUS): one row per router
-- source address that has sent a valid Message-Authenticator. A server pre-latches these
-- addresses at start and on every NAS-table reload, so such a router must keep sending
-- one across restarts and on every instance sharing this database. Keyed by the source
-- address, not by `nas` row: it works the same for `[[nas]]` entries of the config file,
-- `nas` rows and addresses inside a CIDR entry. `hotspot-radius nas unlatch --address`
-- deletes rows (a router downgraded on purpose); `nas remove` deletes those of the entry.
CREATE TABLE IF NOT EXISTS nas_ma_latch (
    address inet PRIMARY KEY,
    first_seen timestamptz NOT NULL DEFAULT now()
);

-- Every change reloads the NAS table of every running server (the `nas` payload): a
-- latch one instance records reaches the others, and an unlatch takes effect at once.
DROP TRIGGER IF EXISTS nas_ma_latch_notify ON nas_ma_latch;
CREATE TRIGGER nas_ma_latch_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON nas_ma_latch
    FOR EACH STATEMENT EXECUTE FUNCTION hotspot_radius_notify_payload('nas');
