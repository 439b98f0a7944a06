-- Demo data for docker/compose.yml (run by the one-shot `seed` service after `migrate`;
-- idempotent). Traffic from the docker host reaches the server from the compose network's
-- gateway, 172.28.0.1 (fixed in compose.yml), so that is the demo NAS. Real routers are
-- added with `docker compose run --rm -T hotspot-radius nas add --address <router-ip> --secret -`.
INSERT INTO nas (nasname, shortname, type, secret, description)
SELECT '172.28.0.1', 'docker-host', 'other', :'demo_secret', 'the docker host (compose network gateway)'
WHERE NOT EXISTS (SELECT 1 FROM nas WHERE nasname = '172.28.0.1');

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
