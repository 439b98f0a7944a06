-- Room on every radacct page for Interim-Update row versions: an Interim changes no
-- indexed column (acctstoptime stays NULL), so with free space on the page PostgreSQL
-- updates the row in place (a HOT update) instead of inserting into each of radacct's
-- indexes. Interims are most of a hotspot's accounting traffic. Applies to pages written
-- from now on; existing pages get it when the table is rewritten (VACUUM FULL, CLUSTER).
ALTER TABLE radacct SET (fillfactor = 80);
