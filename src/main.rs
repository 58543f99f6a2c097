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
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match realmgate::cli::run(realmgate::cli::Cli::parse()) {
        Ok(realmgate::cli::Outcome::Ok) => ExitCode::SUCCESS,
        Ok(realmgate::cli::Outcome::Problems) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("realmgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}
