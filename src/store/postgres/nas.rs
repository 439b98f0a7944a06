//! The `nas` table: the server's client list (plus our `coa_port` and
//! `require_message_authenticator` columns), and the `nas add|list|remove` commands.

use crate::model::{NasEntry, NasRow};

use super::{PgStore, StoreError, failed, sent};

impl PgStore {
    /// All NAS rows, in id order.
    pub async fn load_nas(&self) -> Result<Vec<NasRow>, StoreError> {
        Ok(self
            .list_nas()
            .await?
            .into_iter()
            .map(|entry| entry.nas)
            .collect())
    }

    /// All NAS rows with their id, type and description (for `nas list`), in id order.
    pub async fn list_nas(&self) -> Result<Vec<NasEntry>, StoreError> {
        sent("load_nas");
        let rows = sqlx::query!(
            "SELECT id, nasname, shortname, secret, coa_port, require_message_authenticator, \
                    type AS nas_type, description \
             FROM nas ORDER BY id"
        )
        .fetch_all(&self.pool)
        .await
        .map_err(failed("load_nas"))?;
        Ok(rows
            .into_iter()
            .map(|r| NasEntry {
                id: r.id,
                nas_type: r.nas_type,
                description: r.description,
                nas: NasRow {
                    nasname: r.nasname,
                    shortname: Some(r.shortname),
                    secret: r.secret,
                    coa_port: r.coa_port,
                    require_message_authenticator: r.require_message_authenticator,
                },
            })
            .collect())
    }

    /// Inserts a NAS (`shortname` defaults to `nasname`); returns its id.
    pub async fn add_nas(&self, nas: &NasRow) -> Result<i32, StoreError> {
        sent("add_nas");
        let shortname = nas.shortname.as_deref().unwrap_or(&nas.nasname);
        sqlx::query_scalar!(
            "INSERT INTO nas (nasname, shortname, secret, coa_port, require_message_authenticator) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            nas.nasname,
            shortname,
            nas.secret,
            nas.coa_port,
            nas.require_message_authenticator
        )
        .fetch_one(&self.pool)
        .await
        .map_err(failed("add_nas"))
    }

    /// Deletes the NAS rows with this `nasname`; returns how many were deleted.
    pub async fn remove_nas(&self, nasname: &str) -> Result<u64, StoreError> {
        sent("remove_nas");
        sqlx::query!("DELETE FROM nas WHERE nasname = $1", nasname)
            .execute(&self.pool)
            .await
            .map(|r| r.rows_affected())
            .map_err(failed("remove_nas"))
    }
}
