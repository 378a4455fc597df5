//! The `mock-upstream` command (`mock-upstream --config providers.toml`): serve fake providers on loopback until
//! Ctrl-C. The binary itself is built by the `slacheck` package (`src/bin/mock-upstream.rs` there), so that
//! `cargo install slacheck` and the release archives carry both commands.

use crate::{tomlfile, MockConfig};
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Fake OpenAI-compatible LLM providers with fault injection, for load and chaos tests.
///
/// Each `[[providers]]` table of the config is served on its own loopback port (127.0.0.1). Every response
/// names its provider in the `x-upstream` header. Faults can be changed at run time with
/// `POST /__control`; counters are at `GET /__stats`.
#[derive(Parser)]
#[command(name = "mock-upstream", version)]
struct Cli {
    /// The providers file (see mock-upstream/providers.toml).
    #[arg(long, short)]
    config: PathBuf,
}

/// Runs the command with the process's arguments; the exit code is 2 for a bad config or a port in use.
#[tokio::main]
pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    let (mut config, source) = match tomlfile::read::<MockConfig>(&cli.config) {
        Ok(read) => read,
        Err(e) => return usage_error(e),
    };
    // A tokenizer file is relative to the config file.
    let dir = cli.config.parent().unwrap_or(std::path::Path::new("."));
    config.providers = config.providers.into_iter().map(|p| p.resolved(dir)).collect();
    if let Err(e) = check(&cli.config, &source, &config) {
        return usage_error(e);
    }
    let started = Instant::now();
    let mut running = Vec::new();
    for p in config.providers {
        match crate::start(p, started).await {
            Ok(r) => {
                eprintln!("mock-upstream: provider {} on {}", r.provider.name(), r.chat_url());
                log_outage_windows(&r.provider, started);
                running.push(r);
            }
            Err(e) => {
                eprintln!("error: {}: {e}", cli.config.display());
                return ExitCode::from(2);
            }
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    eprintln!("mock-upstream: stopping");
    ExitCode::SUCCESS
}

/// One log line when each scheduled outage begins and ends.
fn log_outage_windows(provider: &std::sync::Arc<crate::Provider>, started: Instant) {
    for outage in provider.config.outages.clone() {
        let name = provider.name().to_string();
        tokio::spawn(async move {
            tokio::time::sleep_until((started + outage.window.start).into()).await;
            eprintln!(
                "mock-upstream: provider {name}: outage started (mode {:?}, window {})",
                outage.mode, outage.window
            );
            tokio::time::sleep_until((started + outage.window.end).into()).await;
            eprintln!("mock-upstream: provider {name}: outage ended (window {})", outage.window);
        });
    }
}

fn check(file: &std::path::Path, source: &str, c: &MockConfig) -> Result<(), tomlfile::FileError> {
    if c.providers.is_empty() {
        return Err(tomlfile::error_at(file, source, "providers", "declare at least one [[providers]] table"));
    }
    for (i, p) in c.providers.iter().enumerate() {
        if let Err((field, message)) = p.check() {
            let field = field.split_once('.').map(|(_, f)| f).unwrap_or(&field);
            return Err(tomlfile::error_at(file, source, &format!("providers[{i}].{field}"), message));
        }
    }
    Ok(())
}

fn usage_error(e: tomlfile::FileError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}
