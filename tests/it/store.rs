//! Store tests against real PostgreSQL and Redis servers (see `harness`).

use crate::harness::{Postgres, Redis, fresh_db, fresh_db_on, statement_count};

#[tokio::test]
async fn harness_fresh_db_is_migrated_and_independent() {
    let (url_a, a) = fresh_db().await;
    let (url_b, b) = fresh_db().await;
    assert_ne!(url_a, url_b);
    sqlx::query("INSERT INTO radcheck (username, attribute, op, value) VALUES ('u', 'Cleartext-Password', ':=', 'x')")
        .execute(&a)
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM radcheck")
        .fetch_one(&b)
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert!(statement_count(&a).await >= 1);
}

#[tokio::test]
async fn harness_postgres_stop_and_start_again() {
    let mut pg = Postgres::start();
    let (url, pool) = fresh_db_on(&pg).await;
    pool.close().await;
    pg.stop();
    assert!(
        <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .is_err()
    );
    pg.start_again();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM nas")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn harness_redis_stop_and_start_again() {
    let mut r = Redis::start();
    let url = r.url();
    r.stop();
    assert!(std::net::TcpStream::connect(("127.0.0.1", r.port())).is_err());
    r.start_again();
    assert_eq!(url, r.url());
    assert!(std::net::TcpStream::connect(("127.0.0.1", r.port())).is_ok());
}
