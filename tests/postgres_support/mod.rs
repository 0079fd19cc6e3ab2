//! A database of its own for each test, on the PostgreSQL `./scripts/test`
//! starts (`CLOUDOPTIM_POSTGRES_URL`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// A new, empty database named `name`; its URL.
pub async fn fresh_database(name: &str) -> String {
    let base = std::env::var("CLOUDOPTIM_POSTGRES_URL")
        .expect("CLOUDOPTIM_POSTGRES_URL is not set: run ./scripts/test, which starts PostgreSQL");
    let (client, connection) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    // One statement each: DROP DATABASE cannot run in a transaction block.
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        client.batch_execute(&sql).await.unwrap();
    }
    let (prefix, _) = base.rsplit_once('/').unwrap();
    format!("{prefix}/{name}")
}
