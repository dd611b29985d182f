//! A real hookwing server, started the way the `hookwing` binary starts one, with the
//! settings the benchmark varies.

use std::path::PathBuf;

use tracing_subscriber::EnvFilter;

/// The admin secret of every benchmarked server.
pub const ADMIN_SECRET: &str = "bench-admin-secret";

/// Serves on a free loopback port until killed, printing the base URL once ready.
pub async fn serve(
    database_url: String,
    node_id: String,
    cache_dir: PathBuf,
    delivery: bool,
) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new("warn"))
        .with_writer(std::io::stderr)
        .init();
    let mut config = hookwing::Config::defaults();
    config.database_url = database_url;
    config.node_id = Some(node_id);
    config.admin_secret = Some(ADMIN_SECRET.into());
    config.wasm.cache_dir = cache_dir;
    config.delivery.enabled = delivery;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", listener.local_addr()?);
    let running = hookwing::serve(config, listener).await?;
    crate::child::announce(&url);
    running.server.await?;
    Ok(())
}
