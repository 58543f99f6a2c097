use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    // A missing .env is normal. A broken one stops the start: dotenvy stops reading at the bad
    // line, and running on half a configuration (say, without REALMGATE_ENV=production) is
    // worse than not running.
    if let Err(e) = dotenvy::dotenv() {
        if !e.not_found() {
            eprintln!("realmgate: .env: {e}");
            return ExitCode::FAILURE;
        }
    }
    if let Err(message) = init_logging() {
        eprintln!("realmgate: {message}");
        return ExitCode::FAILURE;
    }
    match realmgate::cli::run(realmgate::cli::Cli::parse()) {
        Ok(realmgate::cli::Outcome::Ok) => ExitCode::SUCCESS,
        Ok(realmgate::cli::Outcome::Problems) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("realmgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The log, on standard error: `RUST_LOG` filters it (default `info`), `REALMGATE_LOG_FORMAT`
/// shapes it (SPEC §17). Read here, before the configuration, so that everything the start says
/// is in the chosen form; a bad value stops the start as any bad setting does.
fn init_logging() -> Result<(), String> {
    use realmgate::domain::config::LogFormat;
    use std::io::IsTerminal as _;
    let format = match std::env::var("REALMGATE_LOG_FORMAT") {
        Ok(raw) if !raw.trim().is_empty() => {
            LogFormat::parse(&raw).ok_or("REALMGATE_LOG_FORMAT: must be `text` or `json`")?
        }
        _ => LogFormat::Text,
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        // One object a line: time, level, target, the request span (its id) and the event's
        // fields (the message, and the access log's fields) at the top level.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    installed.map_err(|e| format!("cannot start the log: {e}"))
}
