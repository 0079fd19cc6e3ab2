//! The control plane's HTTP API (the seed's core platform) over PostgreSQL:
//! register clusters, read the optimization history, cordon nodes through
//! the plan runner. Built so far: see `cloudoptim::runtime::api`.
//!
//! ```text
//! export DATABASE_URL=postgres://cloudoptim@127.0.0.1:5432/cloudoptim   # or DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD
//! export CLOUDOPTIM_TOKEN_KEY=$(openssl rand -hex 32)                    # seals service account tokens at rest
//! export CLOUDOPTIM_API_KEY=…                                             # required of every request when set
//! cargo run --release --features runtime --example control_plane         # listens on CENTRAL_SERVER_HOST:CENTRAL_SERVER_PORT (0.0.0.0:8000)
//! ```
//!
//! It needs a PostgreSQL (there is no embedded mode yet); `./scripts/test`
//! shows how one is started on loopback. SIGTERM or Ctrl-C finishes the
//! requests in flight and stops.

use std::process::ExitCode;
use std::sync::Arc;

use cloudoptim::k8s::ClientSettings;
use cloudoptim::runtime::api::{router, ApiState};
use cloudoptim::runtime::{Store, TokenKey};

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `DATABASE_URL`, else the seed's `DB_*` variables as a key=value string.
fn database() -> Result<String, String> {
    if let Some(url) = var("DATABASE_URL") {
        return Ok(url);
    }
    let host = var("DB_HOST").ok_or(
        "no database: set DATABASE_URL (postgres://user@host:port/db) or DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD",
    )?;
    let quote = |v: String| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
    let mut parts = vec![format!("host={}", quote(host))];
    for (key, name) in [
        ("port", "DB_PORT"),
        ("dbname", "DB_NAME"),
        ("user", "DB_USER"),
        ("password", "DB_PASSWORD"),
    ] {
        if let Some(v) = var(name) {
            parts.push(format!("{key}={}", quote(v)));
        }
    }
    Ok(parts.join(" "))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("control_plane: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let url = database()?;
    let key = TokenKey::from_env().map_err(|e| e.to_string())?;
    let host = var("CENTRAL_SERVER_HOST").unwrap_or_else(|| "0.0.0.0".into());
    let port: u16 = var("CENTRAL_SERVER_PORT")
        .map(|p| {
            p.parse()
                .map_err(|_| format!("CENTRAL_SERVER_PORT={p:?}: not a port number"))
        })
        .transpose()?
        .unwrap_or(8000);
    let api_key = var("CLOUDOPTIM_API_KEY");
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let mut store = Store::connect(&url, key).await.map_err(|e| e.to_string())?;
        let applied = store.migrate().await.map_err(|e| e.to_string())?;
        let state = Arc::new(ApiState {
            store,
            api_key: api_key.clone(),
            holder: format!("control-plane-{}", std::process::id()),
            kube_settings: ClientSettings::from_env().map_err(|e| e.to_string())?,
        });
        let listener = tokio::net::TcpListener::bind((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot listen on {host}:{port}: {e}"))?;
        println!(
            "control plane on http://{}: migrations applied now {applied:?}; {}",
            listener.local_addr().map_err(|e| e.to_string())?,
            if api_key.is_some() {
                "an API key is required"
            } else {
                "NO API key set (CLOUDOPTIM_API_KEY): every request is let in"
            }
        );
        axum::serve(listener, router(state))
            .with_graceful_shutdown(async {
                let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
                }
                println!("stopping: finishing the requests in flight");
            })
            .await
            .map_err(|e| e.to_string())
    })
}
