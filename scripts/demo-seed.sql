-- The demo NAS and user, for scripts/run.sh and docker/compose.yml (idempotent). psql
-- variables: nas_address, nas_name, demo_secret. scripts/run.sh seeds 127.0.0.1; the
-- compose stack seeds its network's gateway, 172.28.0.1, where the docker host's packets
-- come from. Real routers are added with `hotspot-radius nas add`.
INSERT INTO nas (nasname, shortname, type, secret, description)
SELECT :'nas_address', :'nas_name', 'other', :'demo_secret', 'demo NAS'
WHERE NOT EXISTS (SELECT 1 FROM nas WHERE nasname = :'nas_address');

INSERT INTO radcheck (username, attribute, op, value)
SELECT 'demo', 'Cleartext-Password', ':=', 'demo-password'
WHERE NOT EXISTS (SELECT 1 FROM radcheck WHERE username = 'demo' AND attribute = 'Cleartext-Password');

INSERT INTO radusergroup (username, groupname, priority)
SELECT 'demo', 'basic', 1
WHERE NOT EXISTS (SELECT 1 FROM radusergroup WHERE username = 'demo' AND groupname = 'basic');

INSERT INTO radgroupreply (groupname, attribute, op, value)
SELECT v.groupname, v.attribute, v.op, v.value
FROM (VALUES ('basic', 'Mikrotik-Rate-Limit', ':=', '2M/5M'),
             ('basic', 'Session-Timeout', ':=', '3600'),
             ('basic', 'Acct-Interim-Interval', ':=', '300')) AS v (groupname, attribute, op, value)
WHERE NOT EXISTS (SELECT 1 FROM radgroupreply r
                  WHERE r.groupname = v.groupname AND r.attribute = v.attribute);
