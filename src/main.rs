use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    // A missing .env is normal; a broken one is reported by the settings it fails to give.
    let _ = dotenvy::dotenv();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match realmgate::cli::run(realmgate::cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("realmgate: {e:#}");
            ExitCode::FAILURE
        }
    }
}
