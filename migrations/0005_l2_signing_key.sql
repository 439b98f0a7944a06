-- The key the servers sign their Redis cache values with (HMAC): shared by every instance
-- through this table, so a value one instance wrote is trusted by the others, and anyone
-- who can write to Redis but not to this database cannot plant a profile. 244 random bits
-- from PostgreSQL's strong random source (gen_random_uuid, PostgreSQL 13+). To rotate it:
-- UPDATE hotspot_radius_keys SET key = <new>, created_at = now() WHERE name = 'l2';
-- then restart the servers (values signed with the old key become misses).
CREATE TABLE IF NOT EXISTS hotspot_radius_keys (
    name text PRIMARY KEY,
    key text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO hotspot_radius_keys (name, key)
VALUES ('l2', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''))
ON CONFLICT (name) DO NOTHING;
