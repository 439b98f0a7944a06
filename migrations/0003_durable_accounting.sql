-- hotspot-radius: durable, batched accounting. Additive, like 0002: FreeRADIUS and the
-- admin tools that read radacct see the same columns with the same meanings.

-- The client entry (`[[nas]]` or `nas` row, as its network) a session's packets come
-- from. Only that client may update or close the session; rows written before this
-- column existed (or by FreeRADIUS) have NULL and are claimed by the first client that
-- updates them.
ALTER TABLE radacct ADD COLUMN IF NOT EXISTS nasclient inet;

-- Records PostgreSQL refused for good (a constraint or a value it will never accept):
-- parked here with the reason instead of blocking the queue or being retried forever.
-- `record` is the normalised accounting record as JSON.
CREATE TABLE IF NOT EXISTS radacct_deadletter (
    id         bigserial PRIMARY KEY,
    parked_at  timestamp with time zone NOT NULL DEFAULT now(),
    reason     text NOT NULL,
    record     jsonb NOT NULL
);

-- Post-auth retention deletes by age.
CREATE INDEX IF NOT EXISTS radpostauth_authdate_idx ON radpostauth (authdate);

-- Closed sessions older than `[accounting] history_after_days` move here in bulk (hourly,
-- in batches), so the live radacct that every Start/Interim/Stop upserts into stays small
-- (FreeRADIUS sites report PostgreSQL slowing past a few million rows). Same columns;
-- `radacct_all` shows both for reports over long periods.
CREATE TABLE IF NOT EXISTS radacct_history (LIKE radacct INCLUDING DEFAULTS);
CREATE INDEX IF NOT EXISTS radacct_history_uniqueid_idx ON radacct_history (acctuniqueid);
CREATE INDEX IF NOT EXISTS radacct_history_start_user_idx ON radacct_history (acctstarttime, username);
CREATE INDEX IF NOT EXISTS radacct_history_stop_idx ON radacct_history (acctstoptime);
-- Finding what to move: closed sessions by stop time.
CREATE INDEX IF NOT EXISTS radacct_stop_idx ON radacct (acctstoptime) WHERE acctstoptime IS NOT NULL;
CREATE OR REPLACE VIEW radacct_all AS
    SELECT * FROM radacct UNION ALL SELECT * FROM radacct_history;
