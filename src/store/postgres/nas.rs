//! The `nas` table: the server's client list (plus our `coa_port` and
//! `require_message_authenticator` columns), and the `nas add|list|remove` commands; and
//! `nas_ma_latch`, the persisted `auto` Message-Authenticator latches.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::model::{NasEntry, NasRow};

use super::{PgStore, StoreError, failed, sent};

/// What [`PgStore::add_nas`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NasWrite {
    /// A new row, with its id.
    Added {
        /// `nas.id`.
        id: i32,
    },
    /// Existing rows with that `nasname` were updated.
    Replaced {
        /// The first updated row's `nas.id`.
        id: i32,
        /// How many rows had that `nasname` (more than 1: duplicates made by hand).
        rows: usize,
    },
}

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
        let rows = self
            .within(
                "load_nas",
                sqlx::query!(
                    "SELECT id, nasname, shortname, secret, coa_port, require_message_authenticator, \
                            type AS nas_type, description, tenant \
                     FROM nas ORDER BY id"
                )
                .fetch_all(&self.pool),
            )
            .await?;
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
                    tenant: r.tenant,
                },
            })
            .collect())
    }

    /// Adds a NAS, or replaces the secret, name and our columns of the rows that already
    /// have this `nasname` (the FreeRADIUS schema has no unique index there, so a plain
    /// INSERT would leave two rows, the older one winning). One statement. `shortname`
    /// defaults to `nasname`.
    pub async fn add_nas(&self, nas: &NasRow) -> Result<NasWrite, StoreError> {
        sent("add_nas");
        let shortname = nas.shortname.as_deref().unwrap_or(&nas.nasname);
        let rows = sqlx::query!(
            r#"WITH updated AS (
    UPDATE nas SET shortname = $2, secret = $3, coa_port = $4,
                   require_message_authenticator = $5, tenant = $6
    WHERE nasname = $1 RETURNING id
), inserted AS (
    INSERT INTO nas (nasname, shortname, secret, coa_port, require_message_authenticator, tenant)
    SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM updated)
    RETURNING id
)
SELECT id AS "id!", false AS "inserted!" FROM updated
UNION ALL SELECT id, true FROM inserted"#,
            nas.nasname,
            shortname,
            nas.secret,
            nas.coa_port,
            nas.require_message_authenticator,
            nas.tenant
        )
        .fetch_all(&self.pool)
        .await
        .map_err(failed("add_nas"))?;
        let replaced = rows.iter().filter(|r| !r.inserted).count();
        let id = rows.first().map_or(0, |r| r.id);
        Ok(if replaced > 0 {
            NasWrite::Replaced { id, rows: replaced }
        } else {
            NasWrite::Added { id }
        })
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

/// The `auto` Message-Authenticator latches (`nas_ma_latch`, migration 0006): the router
/// source addresses that have sent one, shared by every instance.
impl PgStore {
    /// Every latched source address. Rows that do not read back as an address are skipped.
    pub async fn load_ma_latches(&self) -> Result<Vec<IpAddr>, StoreError> {
        sent("load_ma_latches");
        let rows = self
            .within(
                "load_ma_latches",
                sqlx::query_scalar!(
                    r#"SELECT host(address) AS "address!" FROM nas_ma_latch ORDER BY address"#
                )
                .fetch_all(&self.pool),
            )
            .await?;
        Ok(rows.iter().filter_map(|a| a.parse().ok()).collect())
    }

    /// Records latched source addresses (already recorded ones are left as they are);
    /// returns how many were new.
    pub async fn record_ma_latches(&self, addresses: &[IpAddr]) -> Result<u64, StoreError> {
        sent("record_ma_latches");
        let addresses: Vec<String> = addresses.iter().map(ToString::to_string).collect();
        self.within(
            "record_ma_latches",
            sqlx::query!(
                "INSERT INTO nas_ma_latch (address) \
                 SELECT a::inet FROM unnest($1::text[]) AS a \
                 ON CONFLICT (address) DO NOTHING",
                &addresses
            )
            .execute(&self.pool),
        )
        .await
        .map(|r| r.rows_affected())
    }

    /// Forgets the latches of every address in `network` (one address or a CIDR range);
    /// returns how many were forgotten.
    pub async fn forget_ma_latches(&self, network: &IpNet) -> Result<u64, StoreError> {
        sent("forget_ma_latches");
        sqlx::query!(
            "DELETE FROM nas_ma_latch WHERE address <<= $1::text::inet",
            network.to_string()
        )
        .execute(&self.pool)
        .await
        .map(|r| r.rows_affected())
        .map_err(failed("forget_ma_latches"))
    }
}
