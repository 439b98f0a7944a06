//! The writes behind `hotspot-radius user add|disable|enable|set-package` and the reads
//! behind `user show|list`: radcheck, radreply and radusergroup rows as FreeRADIUS keeps
//! them. Each command's writes are one transaction; the schema's triggers (migration 0002)
//! send the NOTIFY that makes every running server drop its cached profile at commit.
//!
//! Every command works on the rows of one tenant (`None`: the global rows, tenant NULL;
//! migration 0007), so the same username in two tenants is two users.
//!
//! Every write first takes a transaction-scoped advisory lock on the user name, so two
//! commands on one user (an `add` racing another `add`) run one after the other and the
//! "does this user exist" answer stays true until commit.

use chrono::{DateTime, Utc};

use crate::model::{RadRow, Usage};

use super::{PgStore, StoreError, failed, sent};

/// One radusergroup row to write: the user is in `group` at `priority` (lower first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// `groupname` (the package).
    pub group: String,
    /// `priority`.
    pub priority: i32,
}

/// What [`PgStore::add_user`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserWrite {
    /// The user had no rows; they were written.
    Added,
    /// The user's radcheck, radreply and radusergroup rows were replaced.
    Replaced,
    /// The user exists and replacing was not asked for: nothing was written.
    Exists,
}

/// One line of `user list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    /// User-Name.
    pub username: String,
    /// Packages (radusergroup) in priority order.
    pub groups: Vec<String>,
    /// A radcheck `Auth-Type` row says `Reject`.
    pub disabled: bool,
}

/// The radcheck rows that make up "disabled": `Auth-Type` set to `Reject` (`:=`, `=`, `==`
/// or `+=`; names compared case-insensitively, as FreeRADIUS does).
const AUTH_TYPE: &str = "auth-type";
const REJECT: &str = "reject";

/// Column arrays for one `INSERT ... SELECT FROM UNNEST`.
fn columns(rows: &[RadRow]) -> (Vec<String>, Vec<String>, Vec<String>) {
    let attrs = rows.iter().map(|r| r.attribute.clone()).collect();
    let ops = rows.iter().map(|r| r.op.clone()).collect();
    let values = rows.iter().map(|r| r.value.clone()).collect();
    (attrs, ops, values)
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Postgres>;

/// Serialises writers of one user until the transaction ends.
async fn lock_user(
    tx: &mut Tx<'_>,
    tenant: Option<&str>,
    username: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT 1::int AS "locked!"
           FROM pg_advisory_xact_lock(hashtextextended('user:' || coalesce($2 || ':', '') || $1, 0))"#,
        username,
        tenant
    )
    .fetch_one(&mut **tx)
    .await
    .map(|_| ())
}

/// Whether the user has any radcheck, radreply or radusergroup row.
async fn exists(
    tx: &mut Tx<'_>,
    tenant: Option<&str>,
    username: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT (EXISTS (SELECT 1 FROM radcheck WHERE username = $1 AND tenant IS NOT DISTINCT FROM $2)
                OR EXISTS (SELECT 1 FROM radreply WHERE username = $1 AND tenant IS NOT DISTINCT FROM $2)
                OR EXISTS (SELECT 1 FROM radusergroup WHERE username = $1 AND tenant IS NOT DISTINCT FROM $2)) AS "exists!""#,
        username,
        tenant
    )
    .fetch_one(&mut **tx)
    .await
}

/// Writes radusergroup rows for `username`.
async fn insert_groups(
    tx: &mut Tx<'_>,
    tenant: Option<&str>,
    username: &str,
    groups: &[Membership],
) -> Result<(), sqlx::Error> {
    let names: Vec<String> = groups.iter().map(|g| g.group.clone()).collect();
    let priorities: Vec<i32> = groups.iter().map(|g| g.priority).collect();
    sqlx::query!(
        "INSERT INTO radusergroup (username, groupname, priority, tenant)
         SELECT $1, g, p, $4 FROM UNNEST($2::text[], $3::int4[]) WITH ORDINALITY AS t(g, p, n)
         ORDER BY n",
        username,
        &names,
        &priorities,
        tenant
    )
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

impl PgStore {
    /// Writes a new user: radcheck rows `check`, radreply rows `reply` and radusergroup
    /// rows `groups`, in the order given (rows are evaluated in id order). When the user
    /// already has rows: [`UserWrite::Exists`] and nothing written, unless `replace`, which
    /// deletes their radcheck, radreply and radusergroup rows first. One transaction.
    pub async fn add_user(
        &self,
        tenant: Option<&str>,
        username: &str,
        check: &[RadRow],
        reply: &[RadRow],
        groups: &[Membership],
        replace: bool,
    ) -> Result<UserWrite, StoreError> {
        sent("add_user");
        self.add_user_tx(tenant, username, check, reply, groups, replace)
            .await
            .map_err(failed("add_user"))
    }

    async fn add_user_tx(
        &self,
        tenant: Option<&str>,
        username: &str,
        check: &[RadRow],
        reply: &[RadRow],
        groups: &[Membership],
        replace: bool,
    ) -> Result<UserWrite, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        lock_user(&mut tx, tenant, username).await?;
        let existed = exists(&mut tx, tenant, username).await?;
        if existed && !replace {
            tx.rollback().await?;
            return Ok(UserWrite::Exists);
        }
        if existed {
            sqlx::query!(
                "DELETE FROM radcheck WHERE username = $1 AND tenant IS NOT DISTINCT FROM $2",
                username,
                tenant
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query!(
                "DELETE FROM radreply WHERE username = $1 AND tenant IS NOT DISTINCT FROM $2",
                username,
                tenant
            )
            .execute(&mut *tx)
            .await?;
            sqlx::query!(
                "DELETE FROM radusergroup WHERE username = $1 AND tenant IS NOT DISTINCT FROM $2",
                username,
                tenant
            )
            .execute(&mut *tx)
            .await?;
        }
        let (attrs, ops, values) = columns(check);
        sqlx::query!(
            "INSERT INTO radcheck (username, attribute, op, value, tenant)
             SELECT $1, a, o, v, $5 FROM UNNEST($2::text[], $3::text[], $4::text[])
                 WITH ORDINALITY AS t(a, o, v, n)
             ORDER BY n",
            username,
            &attrs,
            &ops,
            &values,
            tenant
        )
        .execute(&mut *tx)
        .await?;
        let (attrs, ops, values) = columns(reply);
        sqlx::query!(
            "INSERT INTO radreply (username, attribute, op, value, tenant)
             SELECT $1, a, o, v, $5 FROM UNNEST($2::text[], $3::text[], $4::text[])
                 WITH ORDINALITY AS t(a, o, v, n)
             ORDER BY n",
            username,
            &attrs,
            &ops,
            &values,
            tenant
        )
        .execute(&mut *tx)
        .await?;
        insert_groups(&mut tx, tenant, username, groups).await?;
        tx.commit().await?;
        Ok(if existed {
            UserWrite::Replaced
        } else {
            UserWrite::Added
        })
    }

    /// Disables (`true`) or enables (`false`) a user the FreeRADIUS way: disabling appends
    /// a radcheck `Auth-Type := Reject` row unless one is there; enabling deletes every
    /// radcheck row that sets `Auth-Type` to `Reject`. `None`: no such user; `Some(changed)` otherwise
    /// (`false`: it already was so). One transaction.
    pub async fn set_user_disabled(
        &self,
        tenant: Option<&str>,
        username: &str,
        disabled: bool,
    ) -> Result<Option<bool>, StoreError> {
        sent("set_user_disabled");
        self.set_user_disabled_tx(tenant, username, disabled)
            .await
            .map_err(failed("set_user_disabled"))
    }

    async fn set_user_disabled_tx(
        &self,
        tenant: Option<&str>,
        username: &str,
        disabled: bool,
    ) -> Result<Option<bool>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        lock_user(&mut tx, tenant, username).await?;
        if !exists(&mut tx, tenant, username).await? {
            tx.rollback().await?;
            return Ok(None);
        }
        let changed = if disabled {
            sqlx::query!(
                "INSERT INTO radcheck (username, attribute, op, value, tenant)
                 SELECT $1, 'Auth-Type', ':=', 'Reject', $4
                 WHERE NOT EXISTS (SELECT 1 FROM radcheck WHERE username = $1 AND op = ':='
                                   AND lower(attribute) = $2 AND lower(value) = $3
                                   AND tenant IS NOT DISTINCT FROM $4)",
                username,
                AUTH_TYPE,
                REJECT,
                tenant
            )
            .execute(&mut *tx)
            .await?
            .rows_affected()
        } else {
            sqlx::query!(
                "DELETE FROM radcheck
                 WHERE username = $1 AND lower(attribute) = $2 AND lower(value) = $3
                   AND op IN (':=', '=', '==', '+=') AND tenant IS NOT DISTINCT FROM $4",
                username,
                AUTH_TYPE,
                REJECT,
                tenant
            )
            .execute(&mut *tx)
            .await?
            .rows_affected()
        };
        tx.commit().await?;
        Ok(Some(changed > 0))
    }

    /// Replaces the user's radusergroup rows with `groups`. `None`: no such user (nothing
    /// written); else how many rows were removed. One transaction.
    pub async fn set_user_groups(
        &self,
        tenant: Option<&str>,
        username: &str,
        groups: &[Membership],
    ) -> Result<Option<u64>, StoreError> {
        sent("set_user_groups");
        self.set_user_groups_tx(tenant, username, groups)
            .await
            .map_err(failed("set_user_groups"))
    }

    async fn set_user_groups_tx(
        &self,
        tenant: Option<&str>,
        username: &str,
        groups: &[Membership],
    ) -> Result<Option<u64>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        lock_user(&mut tx, tenant, username).await?;
        if !exists(&mut tx, tenant, username).await? {
            tx.rollback().await?;
            return Ok(None);
        }
        let removed = sqlx::query!(
            "DELETE FROM radusergroup WHERE username = $1 AND tenant IS NOT DISTINCT FROM $2",
            username,
            tenant
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        insert_groups(&mut tx, tenant, username, groups).await?;
        tx.commit().await?;
        Ok(Some(removed))
    }

    /// Whether a group (package) has any radgroupcheck or radgroupreply row (a package
    /// without rows is usually a typo).
    pub async fn group_has_rows(
        &self,
        tenant: Option<&str>,
        group: &str,
    ) -> Result<bool, StoreError> {
        sent("group_has_rows");
        // What the tenant's users would read: its own group of that name, else the global.
        sqlx::query_scalar!(
            r#"SELECT (EXISTS (SELECT 1 FROM radgroupcheck WHERE groupname = $1
                               AND (tenant IS NULL OR tenant = $2))
                    OR EXISTS (SELECT 1 FROM radgroupreply WHERE groupname = $1
                               AND (tenant IS NULL OR tenant = $2))) AS "found!""#,
            group,
            tenant
        )
        .fetch_one(&self.pool)
        .await
        .map_err(failed("group_has_rows"))
    }

    /// Every user (anyone with a radcheck, radreply or radusergroup row), by name; only
    /// members of `group` when given.
    pub async fn list_users(
        &self,
        tenant: Option<&str>,
        group: Option<&str>,
    ) -> Result<Vec<UserSummary>, StoreError> {
        sent("list_users");
        let rows = sqlx::query!(
            r#"SELECT u.username AS "username!",
                      coalesce((SELECT array_agg(g.groupname ORDER BY g.priority, g.id)
                                FROM radusergroup g WHERE g.username = u.username
                                 AND g.tenant IS NOT DISTINCT FROM $4),
                               '{}') AS "groups!",
                      EXISTS (SELECT 1 FROM radcheck c WHERE c.username = u.username
                              AND c.tenant IS NOT DISTINCT FROM $4
                              AND lower(c.attribute) = $2 AND lower(c.value) = $3
                              AND c.op IN (':=', '=', '==', '+=')) AS "disabled!"
               FROM (SELECT username FROM radcheck WHERE tenant IS NOT DISTINCT FROM $4
                     UNION SELECT username FROM radreply WHERE tenant IS NOT DISTINCT FROM $4
                     UNION SELECT username FROM radusergroup WHERE tenant IS NOT DISTINCT FROM $4) u
               WHERE $1::text IS NULL
                  OR EXISTS (SELECT 1 FROM radusergroup g
                             WHERE g.username = u.username AND g.groupname = $1
                               AND g.tenant IS NOT DISTINCT FROM $4)
               ORDER BY u.username"#,
            group,
            AUTH_TYPE,
            REJECT,
            tenant
        )
        .fetch_all(&self.pool)
        .await
        .map_err(failed("list_users"))?;
        Ok(rows
            .into_iter()
            .map(|r| UserSummary {
                username: r.username,
                groups: r.groups,
                disabled: r.disabled,
            })
            .collect())
    }

    /// One user's usage over `radacct_all`, like [`PgStore::usage_by_user`] (which the
    /// in-process session store is loaded from) for a single user.
    pub async fn user_usage(
        &self,
        tenant: Option<&str>,
        username: &str,
        day_start: i64,
        month_start: i64,
        periods: (u32, u32),
    ) -> Result<Usage, StoreError> {
        sent("user_usage");
        let ts = |t: i64| DateTime::<Utc>::from_timestamp(t, 0).unwrap_or_default();
        let r = sqlx::query!(
            r#"SELECT coalesce(sum(acctsessiontime), 0)::bigint AS "total_seconds!",
                      coalesce(sum(coalesce(acctinputoctets, 0) + coalesce(acctoutputoctets, 0)), 0)::bigint AS "total_octets!",
                      coalesce(sum(acctsessiontime) FILTER (WHERE acctstarttime >= $2), 0)::bigint AS "day_seconds!",
                      coalesce(sum(coalesce(acctinputoctets, 0) + coalesce(acctoutputoctets, 0)) FILTER (WHERE acctstarttime >= $2), 0)::bigint AS "day_octets!",
                      coalesce(sum(acctsessiontime) FILTER (WHERE acctstarttime >= $3), 0)::bigint AS "month_seconds!",
                      coalesce(sum(coalesce(acctinputoctets, 0) + coalesce(acctoutputoctets, 0)) FILTER (WHERE acctstarttime >= $3), 0)::bigint AS "month_octets!",
                      min(acctstarttime) AS first_login
               FROM radacct_all WHERE username = $1 AND tenant IS NOT DISTINCT FROM $4"#,
            username,
            ts(day_start),
            ts(month_start),
            tenant
        )
        .fetch_one(&self.pool)
        .await
        .map_err(failed("user_usage"))?;
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(Usage {
            total_seconds: n(r.total_seconds),
            total_octets: n(r.total_octets),
            day: periods.0,
            day_seconds: n(r.day_seconds),
            day_octets: n(r.day_octets),
            month: periods.1,
            month_seconds: n(r.month_seconds),
            month_octets: n(r.month_octets),
            first_login: r.first_login.map(|t| t.timestamp()),
        })
    }
}
