//! The control plane (the seed's core platform) over PostgreSQL: the HTTP
//! API (`cloudoptim::runtime::api`) and the controller
//! (`cloudoptim::runtime::Controller`) in one process. Run several on as
//! many machines: they share the clusters through the database's leases.
//!
//! ```text
//! export DATABASE_URL=postgres://cloudoptim@127.0.0.1:5432/cloudoptim   # or DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD
//! export CLOUDOPTIM_TOKEN_KEY=$(openssl rand -hex 32)                    # seals service account tokens at rest
//! export CLOUDOPTIM_API_KEY=…                                             # required of every request when set
//! cargo run --release --features runtime --example control_plane         # listens on CENTRAL_SERVER_HOST:CENTRAL_SERVER_PORT (0.0.0.0:8000)
//! cargo run --release --features runtime --example control_plane -- --execute --cycle-minutes 10
//! ```
//!
//! Options: `--execute` (act; the default is a dry-run of every plan),
//! `--cycle-minutes N` (0: only cycles asked for through
//! `POST /api/v1/optimization/trigger`), `--no-controller` (the API
//! only), `--lease-seconds N`, `--max-clusters N`, `--step-pause-ms N`
//! (pacing between disruptions), `--engines LIST` (the engines each cycle
//! runs, comma-separated, in any order: `ghost-instances`, `zombie-volumes`,
//! `office-hours`, `consolidation`, `spot-conversion`; the default is all
//! but `spot-conversion`, which is opt-in). Metrics at `/metrics`.
//!
//! It needs a PostgreSQL (there is no embedded mode); `./scripts/test`
//! shows how one is started on loopback. SIGTERM or Ctrl-C finishes the
//! requests and plan steps in flight, releases the clusters, and stops.

use std::process::ExitCode;
use std::sync::Arc;

use std::time::Duration;

use cloudoptim::k8s::ClientSettings;
use cloudoptim::plan::Mode;
use cloudoptim::runtime::api::{router, ApiState};
use cloudoptim::runtime::{Controller, ControllerConfig, Engine, Store, TokenKey};

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

/// What the command line asks for.
struct Options {
    controller: bool,
    config: ControllerConfig,
}

fn options(holder: String) -> Result<Options, String> {
    let mut config = ControllerConfig::new(holder);
    let mut controller = true;
    let mut args = std::env::args().skip(1);
    let number = |flag: &str, v: Option<String>| -> Result<u64, String> {
        let v = v.ok_or(format!("{flag} needs a number"))?;
        v.parse()
            .map_err(|_| format!("{flag} {v:?}: not a whole number"))
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--execute" => config.mode = Mode::Execute,
            "--no-controller" => controller = false,
            "--cycle-minutes" => {
                let m = number(&a, args.next())?;
                config.cycle_interval = (m > 0).then(|| Duration::from_secs(m * 60));
            }
            "--lease-seconds" => {
                config.lease = Duration::from_secs(number(&a, args.next())?.max(3))
            }
            "--max-clusters" => {
                config.max_clusters =
                    usize::try_from(number(&a, args.next())?).unwrap_or(usize::MAX)
            }
            "--step-pause-ms" => {
                config.step_pause = Duration::from_millis(number(&a, args.next())?)
            }
            "--engines" => {
                let list = args.next().ok_or("--engines needs a list")?;
                let mut engines = Vec::new();
                for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    engines.push(Engine::from_name(name).ok_or_else(|| {
                        let known: Vec<&str> = Engine::ALL.iter().map(|e| e.name()).collect();
                        format!(
                            "--engines: unknown engine {name:?} (known: {})",
                            known.join(", ")
                        )
                    })?);
                }
                config = config.with_engines(&engines);
            }
            "--look-ms" => {
                config.look_interval = Duration::from_millis(number(&a, args.next())?.max(50))
            }
            other => {
                return Err(format!(
                    "unknown argument {other:?} (see the example's documentation)"
                ))
            }
        }
    }
    Ok(Options { controller, config })
}

fn run() -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let host_name = var("HOSTNAME").unwrap_or_else(|| "localhost".into());
    let holder = format!("control-plane-{host_name}-{}", std::process::id());
    let Options { controller, config } = options(holder.clone())?;
    let acts = config.mode == Mode::Execute;
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
        let store = Arc::new(store);
        let kube_settings = ClientSettings::from_env().map_err(|e| e.to_string())?;
        let engines: Vec<&str> = config.engines().iter().map(|e| e.name()).collect();
        let engines = engines.join(", ");
        let controller = if controller {
            let config = ControllerConfig {
                kube: kube_settings.clone(),
                ..config
            };
            Some(Controller::new(store.clone(), config).map_err(|e| e.to_string())?)
        } else {
            None
        };
        let state = Arc::new(ApiState {
            store,
            api_key: api_key.clone(),
            holder,
            kube_settings,
            metrics: controller.as_ref().map(Controller::metrics),
        });
        let listener = tokio::net::TcpListener::bind((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot listen on {host}:{port}: {e}"))?;
        println!(
            "control plane on http://{}: migrations applied now {applied:?}; {}; {}; cycles run: {engines}",
            listener.local_addr().map_err(|e| e.to_string())?,
            if api_key.is_some() {
                "an API key is required"
            } else {
                "NO API key set (CLOUDOPTIM_API_KEY): every request is let in"
            },
            match &controller {
                None => "no controller (--no-controller)",
                Some(_) if acts => "the controller ACTS on its clusters (--execute)",
                Some(_) => "the controller dry-runs every plan (add --execute to act)",
            }
        );
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let serving = axum::serve(listener, router(state)).with_graceful_shutdown({
            let mut s = stopping.clone();
            async move {
                let _ = s.wait_for(|v| *v).await;
            }
        });
        let controlling = async {
            if let Some(c) = &controller {
                let mut s = stopping.clone();
                c.run(async move {
                    let _ = s.wait_for(|v| *v).await;
                })
                .await;
            }
        };
        let signalled = async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
            println!("stopping: finishing the requests and plan steps in flight");
            let _ = stop.send(true);
        };
        let (served, (), ()) = tokio::join!(serving, controlling, signalled);
        served.map_err(|e| e.to_string())
    })
}
