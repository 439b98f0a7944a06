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
    /// Everything about one user in ONE statement: radcheck and radreply rows in id order,
    /// and the user's groups (radusergroup, by priority then id) each with its
    /// radgroupcheck / radgroupreply rows in id order. `None` when the user has no
    /// radcheck, radreply or radusergroup row. Matching is exact (FreeRADIUS default).
    pub async fn load_user(&self, username: &str) -> Result<Option<UserRows>, StoreError> {
        let row = self
            .within("load_user", async {
                match self.load_user_once(username).await {
                    Err(e) if is_broken_connection(&e) => self.load_user_once(username).await,
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

    async fn load_user_once(&self, username: &str) -> Result<LoadUserRow, sqlx::Error> {
        sent("load_user");
        sqlx::query_as!(
            LoadUserRow,
            r#"SELECT
  (SELECT coalesce(json_agg(json_build_object('attribute', c.attribute, 'op', c.op, 'value', c.value)
                            ORDER BY c.id), '[]'::json)
     FROM radcheck c WHERE c.username = $1)::text AS "check!",
  (SELECT coalesce(json_agg(json_build_object('attribute', r.attribute, 'op', r.op, 'value', r.value)
                            ORDER BY r.id), '[]'::json)
     FROM radreply r WHERE r.username = $1)::text AS "reply!",
  (SELECT coalesce(json_agg(json_build_object(
            'name', g.groupname,
            'priority', g.priority,
            'check', (SELECT coalesce(json_agg(json_build_object('attribute', gc.attribute, 'op', gc.op,
                                                                 'value', gc.value) ORDER BY gc.id), '[]'::json)
                        FROM radgroupcheck gc WHERE gc.groupname = g.groupname),
            'reply', (SELECT coalesce(json_agg(json_build_object('attribute', gr.attribute, 'op', gr.op,
                                                                 'value', gr.value) ORDER BY gr.id), '[]'::json)
                        FROM radgroupreply gr WHERE gr.groupname = g.groupname))
          ORDER BY g.priority, g.id), '[]'::json)
     FROM radusergroup g WHERE g.username = $1)::text AS "groups!""#,
            username
        )
        .fetch_one(&self.pool)
        .await
    }

    /// Members of a group (radusergroup), for invalidation.
    pub async fn group_members(&self, groupname: &str) -> Result<Vec<String>, StoreError> {
        sent("group_members");
        self.within(
            "group_members",
            sqlx::query_scalar!(
                "SELECT DISTINCT username FROM radusergroup WHERE groupname = $1",
                groupname
            )
            .fetch_all(&self.pool),
        )
        .await
    }
}
