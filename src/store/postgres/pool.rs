//! The query pool as the store's statements see it: PostgreSQL directly, or through a
//! PgBouncer in transaction pooling (`[database] pgbouncer = true`).
//!
//! Through transaction pooling a client connection owns a server session only inside a
//! transaction, and sqlx 0.9 sends every statement in two exchanges (Parse + Describe +
//! Sync, then Bind + Execute + Sync): between them PgBouncer may hand the server session
//! to another client, and the statement is gone. sqlx's `statement_cache_capacity(0)` does
//! not help by itself: it stops caching but still names every statement (`sqlx_s_N`,
//! numbered per client connection and never closed), so two clients meeting on one server
//! session collide. So in that mode every statement runs inside a transaction of its own,
//! opened by one simple query that also sets `statement_timeout` for the transaction only
//! and drops whatever prepared statements earlier clients left on that server session
//! (`DEALLOCATE ALL`); statements sent outside an explicit transaction are unnamed. No
//! session state survives a statement, so this works with PgBouncer 1.18 (Debian 12),
//! which does not track prepared statements.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_core::future::BoxFuture;
use futures_core::stream::BoxStream;
use sqlx::postgres::{PgQueryResult, PgRow, PgStatement, PgTypeInfo};
use sqlx::{
    AssertSqlSafe, Either, Error, Execute, Executor, PgPool, Postgres, SqlStr, Transaction,
};

/// The store's query pool (cheap to clone).
#[derive(Debug, Clone)]
pub(super) struct QueryPool {
    pool: PgPool,
    /// Transaction pooling: the statement every transaction starts with.
    bounced: Option<Arc<str>>,
}

impl QueryPool {
    /// Statements go straight to `pool`'s server.
    pub(super) fn direct(pool: PgPool) -> Self {
        Self {
            pool,
            bounced: None,
        }
    }

    /// `pool` connects to a transaction-pooling PgBouncer: every statement runs in a
    /// transaction of its own, under `statement_timeout_ms`.
    pub(super) fn bounced(pool: PgPool, statement_timeout_ms: u128) -> Self {
        let begin =
            format!("BEGIN; SET LOCAL statement_timeout = {statement_timeout_ms}; DEALLOCATE ALL");
        Self {
            pool,
            bounced: Some(begin.into()),
        }
    }

    /// The sqlx pool underneath.
    pub(super) fn inner(&self) -> &PgPool {
        &self.pool
    }

    /// Whether statements go through a transaction-pooling PgBouncer.
    pub(super) fn is_bounced(&self) -> bool {
        self.bounced.is_some()
    }

    /// Starts a transaction (through PgBouncer: one that first clears the server session's
    /// leftover prepared statements and sets its `statement_timeout`).
    pub(super) async fn begin(&self) -> Result<Transaction<'static, Postgres>, Error> {
        match &self.bounced {
            None => self.pool.begin().await,
            Some(begin) => self.pool.begin_with(AssertSqlSafe(Arc::clone(begin))).await,
        }
    }

    /// Closes every connection.
    pub(super) async fn close(&self) {
        self.pool.close().await;
    }
}

/// A statement sent unnamed (sqlx otherwise names, and through PgBouncer leaks, it).
struct Unnamed<E>(E);

impl<'q, E: Execute<'q, Postgres>> Execute<'q, Postgres> for Unnamed<E> {
    fn sql(self) -> SqlStr {
        self.0.sql()
    }

    fn statement(&self) -> Option<&PgStatement> {
        self.0.statement()
    }

    fn take_arguments(
        &mut self,
    ) -> Result<Option<sqlx::postgres::PgArguments>, sqlx::error::BoxDynError> {
        self.0.take_arguments()
    }

    fn persistent(&self) -> bool {
        false
    }
}

type Step = Either<PgQueryResult, PgRow>;

/// Every result of one statement, run in a transaction of its own and committed.
async fn run_alone<'q, E: 'q + Execute<'q, Postgres>>(
    pool: QueryPool,
    query: E,
) -> Result<Vec<Step>, Error> {
    let mut tx = pool.begin().await?;
    let mut steps = Vec::new();
    {
        let mut stream = (&mut *tx).fetch_many(Unnamed(query));
        while let Some(step) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
            steps.push(step?);
        }
    }
    tx.commit().await?;
    Ok(steps)
}

/// The steps of a statement that has already run to completion, as a stream.
struct Collected<'e> {
    pending: Option<BoxFuture<'e, Result<Vec<Step>, Error>>>,
    steps: std::vec::IntoIter<Step>,
}

impl Stream for Collected<'_> {
    type Item = Result<Step, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(pending) = self.pending.as_mut() {
            match pending.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(result) => {
                    self.pending = None;
                    match result {
                        Ok(steps) => self.steps = steps.into_iter(),
                        Err(e) => return Poll::Ready(Some(Err(e))),
                    }
                }
            }
        }
        Poll::Ready(self.steps.next().map(Ok))
    }
}

impl<'c> Executor<'c> for &'c QueryPool {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Result<Step, Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        if self.bounced.is_none() {
            return self.pool.fetch_many(query);
        }
        Box::pin(Collected {
            pending: Some(Box::pin(run_alone(self.clone(), query))),
            steps: Vec::new().into_iter(),
        })
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<PgRow>, Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        if self.bounced.is_none() {
            return self.pool.fetch_optional(query);
        }
        let pool = self.clone();
        Box::pin(async move {
            let mut tx = pool.begin().await?;
            let row = (&mut *tx).fetch_optional(Unnamed(query)).await?;
            tx.commit().await?;
            Ok(row)
        })
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement, Error>>
    where
        'c: 'e,
    {
        // A prepared statement outlives its transaction: only meaningful on a session.
        self.pool.prepare_with(sql, parameters)
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<sqlx::Describe<Postgres>, Error>>
    where
        'c: 'e,
    {
        self.pool.describe(sql)
    }
}
