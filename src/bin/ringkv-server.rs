//! `ringkv-server`: parse flags, set up logging, run the server.

use clap::Parser;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let config = ringkv::config::Config::parse();
    if let Err(e) = ringkv::server::run(config) {
        tracing::error!("{e:#}");
        eprintln!("ringkv-server: {e:#}");
        std::process::exit(1);
    }
}
