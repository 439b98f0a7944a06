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
