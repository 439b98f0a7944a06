//! Reads behind the session store's rebuild: the open sessions in `radacct`, and each
//! user's usage summed once (at start-up, or after Redis lost its data; never per login).

use chrono::{DateTime, Utc};
use ipnet::IpNet;

use crate::model::{Session, Usage};

use super::{PgStore, StoreError, in_background, sent};

impl PgStore {
    /// Every session `radacct` holds open (no stop time). A session without a client
    /// entry recorded (`nasclient`, written before 0003) is owned by its NAS-IP alone.
    pub async fn open_sessions(&self) -> Result<Vec<Session>, StoreError> {
        sent("sessions_open");
        let rows = sqlx::query!(
            r#"SELECT acctuniqueid, acctsessionid, coalesce(username, '') AS "username!",
                      nasipaddress, nasclient, nasportid, callingstationid, framedipaddress,
                      acctstarttime, acctupdatetime, acctinterval, acctsessiontime,
                      acctinputoctets, acctoutputoctets, tenant
               FROM radacct WHERE acctstoptime IS NULL"#
        )
        .fetch_all(&self.pool);
        let rows = in_background("sessions_open", rows).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let start = r.acctstarttime.map_or(0, |t| t.timestamp());
                Session {
                    unique_id: r.acctuniqueid,
                    session_id: r.acctsessionid,
                    username: r.username,
                    nas_ip: r.nasipaddress.addr(),
                    client: r
                        .nasclient
                        .unwrap_or_else(|| IpNet::from(r.nasipaddress.addr())),
                    nas_port: r.nasportid.as_deref().and_then(|p| p.parse().ok()),
                    nas_port_id: r.nasportid,
                    mac: r.callingstationid,
                    framed_ip: r.framedipaddress.map(|n| n.addr()),
                    start,
                    last_update: r.acctupdatetime.map_or(start, |t| t.timestamp()),
                    interim: r.acctinterval,
                    session_time: r.acctsessiontime.unwrap_or(0),
                    input_octets: r.acctinputoctets.unwrap_or(0),
                    output_octets: r.acctoutputoctets.unwrap_or(0),
                    tenant: r.tenant,
                }
            })
            .collect())
    }

    /// Each user's usage over `radacct_all` (closed history included): totals, the
    /// sessions started since `day_start` and since `month_start` (the local period
    /// boundaries; labelled `day`/`month`), and the first start ever. Per (tenant,
    /// username), keyed by [`Session::user_id`]'s form.
    pub async fn usage_by_user(
        &self,
        day_start: i64,
        month_start: i64,
        periods: (u32, u32),
    ) -> Result<Vec<(String, Usage)>, StoreError> {
        sent("sessions_usage");
        let ts = |t: i64| DateTime::<Utc>::from_timestamp(t, 0).unwrap_or_default();
        let rows = sqlx::query!(
            r#"SELECT username AS "username!", tenant,
                      coalesce(sum(acctsessiontime), 0)::bigint AS "total_seconds!",
                      coalesce(sum(coalesce(acctinputoctets, 0) + coalesce(acctoutputoctets, 0)), 0)::bigint AS "total_octets!",
                      coalesce(sum(acctsessiontime) FILTER (WHERE acctstarttime >= $1), 0)::bigint AS "day_seconds!",
                      coalesce(sum(coalesce(acctinputoctets, 0) + coalesce(acctoutputoctets, 0)) FILTER (WHERE acctstarttime >= $1), 0)::bigint AS "day_octets!",
                      coalesce(sum(acctsessiontime) FILTER (WHERE acctstarttime >= $2), 0)::bigint AS "month_seconds!",
                      coalesce(sum(coalesce(acctinputoctets, 0) + coalesce(acctoutputoctets, 0)) FILTER (WHERE acctstarttime >= $2), 0)::bigint AS "month_octets!",
                      min(acctstarttime) AS first_login
               FROM radacct_all WHERE username IS NOT NULL GROUP BY tenant, username"#,
            ts(day_start),
            ts(month_start)
        )
        .fetch_all(&self.pool);
        let rows = in_background("sessions_usage", rows).await?;
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(rows
            .into_iter()
            .map(|r| {
                let usage = Usage {
                    total_seconds: n(r.total_seconds),
                    total_octets: n(r.total_octets),
                    day: periods.0,
                    day_seconds: n(r.day_seconds),
                    day_octets: n(r.day_octets),
                    month: periods.1,
                    month_seconds: n(r.month_seconds),
                    month_octets: n(r.month_octets),
                    first_login: r.first_login.map(|t| t.timestamp()),
                };
                let user = crate::tenants::scoped(r.tenant.as_deref(), &r.username);
                (user.into_owned(), usage)
            })
            .collect())
    }
}
