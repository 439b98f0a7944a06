//! The per-user read: a user's radcheck/radreply rows and every group's rows, in one
//! statement; and a group's members (for invalidation).

use crate::model::{GroupRows, RadRow, UserRows};

use super::{PgStore, StoreError, is_broken_connection, sent};

/// One row of the `load_user` statement: three JSON arrays as text.
struct LoadUserRow {
    check: String,
    reply: String,
    groups: String,
}

impl PgStore {
    /// Everything about one global user in ONE statement: [`PgStore::load_user_in`] with
    /// no tenant (rows whose `tenant` is NULL, the plain FreeRADIUS schema).
    pub async fn load_user(&self, username: &str) -> Result<Option<UserRows>, StoreError> {
        self.load_user_in(None, username).await
    }

    /// Everything about one user of `tenant` (`None`: global) in ONE statement: radcheck
    /// and radreply rows in id order, and the user's groups (radusergroup, by priority then
    /// id) each with its radgroupcheck / radgroupreply rows in id order. `None` when the
    /// user has no radcheck, radreply or radusergroup row. Matching is exact (FreeRADIUS
    /// default).
    ///
    /// Tenant precedence (migration 0007): the username is the tenant's own when the tenant
    /// has any radcheck, radreply or radusergroup row for it, and then only those rows are
    /// read; otherwise the global rows. Each group name resolves the same way over
    /// radgroupcheck and radgroupreply: the tenant's rows if it has any for that name, else
    /// the global ones. Without a tenant only global rows are read.
    pub async fn load_user_in(
        &self,
        tenant: Option<&str>,
        username: &str,
    ) -> Result<Option<UserRows>, StoreError> {
        let row = self
            .within("load_user", async {
                match self.load_user_once(tenant, username).await {
                    Err(e) if is_broken_connection(&e) => {
                        self.load_user_once(tenant, username).await
                    }
                    other => other,
                }
            })
            .await?;
        let check: Vec<RadRow> = serde_json::from_str(&row.check)?;
        let reply: Vec<RadRow> = serde_json::from_str(&row.reply)?;
        let groups: Vec<GroupRows> = serde_json::from_str(&row.groups)?;
        if check.is_empty() && reply.is_empty() && groups.is_empty() {
            return Ok(None);
        }
        Ok(Some(UserRows {
            username: username.to_owned(),
            check,
            reply,
            groups,
        }))
    }

    async fn load_user_once(
        &self,
        tenant: Option<&str>,
        username: &str,
    ) -> Result<LoadUserRow, sqlx::Error> {
        sent("load_user");
        sqlx::query_as!(
            LoadUserRow,
            r#"WITH owner AS (
  SELECT CASE WHEN $2::text IS NOT NULL AND (
              EXISTS (SELECT 1 FROM radcheck x WHERE x.username = $1 AND x.tenant = $2)
           OR EXISTS (SELECT 1 FROM radreply x WHERE x.username = $1 AND x.tenant = $2)
           OR EXISTS (SELECT 1 FROM radusergroup x WHERE x.username = $1 AND x.tenant = $2))
         THEN $2::text END AS t
)
SELECT
  (SELECT coalesce(json_agg(json_build_object('attribute', c.attribute, 'op', c.op, 'value', c.value)
                            ORDER BY c.id), '[]'::json)
     FROM radcheck c WHERE c.username = $1
      AND c.tenant IS NOT DISTINCT FROM (SELECT t FROM owner))::text AS "check!",
  (SELECT coalesce(json_agg(json_build_object('attribute', r.attribute, 'op', r.op, 'value', r.value)
                            ORDER BY r.id), '[]'::json)
     FROM radreply r WHERE r.username = $1
      AND r.tenant IS NOT DISTINCT FROM (SELECT t FROM owner))::text AS "reply!",
  (SELECT coalesce(json_agg(json_build_object(
            'name', g.groupname,
            'priority', g.priority,
            'check', (SELECT coalesce(json_agg(json_build_object('attribute', gc.attribute, 'op', gc.op,
                                                                 'value', gc.value) ORDER BY gc.id), '[]'::json)
                        FROM radgroupcheck gc WHERE gc.groupname = g.groupname
                         AND gc.tenant IS NOT DISTINCT FROM gt.t),
            'reply', (SELECT coalesce(json_agg(json_build_object('attribute', gr.attribute, 'op', gr.op,
                                                                 'value', gr.value) ORDER BY gr.id), '[]'::json)
                        FROM radgroupreply gr WHERE gr.groupname = g.groupname
                         AND gr.tenant IS NOT DISTINCT FROM gt.t))
          ORDER BY g.priority, g.id), '[]'::json)
     FROM radusergroup g
     CROSS JOIN LATERAL (
       SELECT CASE WHEN $2::text IS NOT NULL AND (
                   EXISTS (SELECT 1 FROM radgroupcheck x WHERE x.groupname = g.groupname AND x.tenant = $2)
                OR EXISTS (SELECT 1 FROM radgroupreply x WHERE x.groupname = g.groupname AND x.tenant = $2))
              THEN $2::text END AS t) gt
     WHERE g.username = $1
       AND g.tenant IS NOT DISTINCT FROM (SELECT t FROM owner))::text AS "groups!""#,
            username,
            tenant
        )
        .fetch_one(&self.pool)
        .await
    }

    /// Members of a group (radusergroup), for invalidation: every (tenant, username) with
    /// a membership row naming `groupname`, whatever its tenant (a global group's rows are
    /// read by the tenants that have none of that name).
    pub async fn group_members_any_tenant(
        &self,
        groupname: &str,
    ) -> Result<Vec<(Option<String>, String)>, StoreError> {
        sent("group_members");
        let rows = self
            .within(
                "group_members",
                sqlx::query!(
                    "SELECT DISTINCT tenant, username FROM radusergroup WHERE groupname = $1",
                    groupname
                )
                .fetch_all(&self.pool),
            )
            .await?;
        Ok(rows.into_iter().map(|r| (r.tenant, r.username)).collect())
    }

    /// The users of `tenant` whose profile reads the tenant's group `groupname`: its own
    /// members and the global users that are members (seen from the tenant's NASes).
    pub async fn tenant_group_members(
        &self,
        tenant: &str,
        groupname: &str,
    ) -> Result<Vec<String>, StoreError> {
        sent("group_members");
        self.within(
            "group_members",
            sqlx::query_scalar!(
                "SELECT DISTINCT username FROM radusergroup \
                 WHERE groupname = $1 AND (tenant = $2 OR tenant IS NULL)",
                groupname,
                tenant
            )
            .fetch_all(&self.pool),
        )
        .await
    }

    /// Members of a global group (radusergroup rows without a tenant), for invalidation.
    pub async fn group_members(&self, groupname: &str) -> Result<Vec<String>, StoreError> {
        sent("group_members");
        self.within(
            "group_members",
            sqlx::query_scalar!(
                "SELECT DISTINCT username FROM radusergroup WHERE groupname = $1 AND tenant IS NULL",
                groupname
            )
            .fetch_all(&self.pool),
        )
        .await
    }
}
