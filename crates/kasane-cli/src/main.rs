//! `kasane`: one binary for operators, auditors and developers.

mod bench_append;
mod bench_http;
mod bench_http_wrk;
mod bench_replay;
mod bench_timeline;
mod cmd_bench;
mod cmd_demo;
mod cmd_events;
mod cmd_projections;
mod cmd_serve;
mod cmd_token;
mod cmd_verify;
mod config;
mod demo;
mod server_config;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use config::StoreOptions;

/// Kasane: an event-sourced collaboration service for multi-agency support of residents.
#[derive(Parser, Debug)]
#[command(name = "kasane", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    store: StoreOptions,
    /// Log filter (tracing env-filter syntax), e.g. `info` or `kasane=debug`.
    #[arg(long, env = "KASANE_LOG", default_value = "warn", global = true)]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the GraphQL API (GraphiQL at /graphql) on the embedded store.
    Serve(Box<server_config::ServeArgs>),
    /// Bearer tokens for members.
    #[command(subcommand)]
    Token(cmd_token::TokenCommand),
    /// Generate a realistic demo town into the data directory.
    Demo(cmd_demo::DemoArgs),
    /// Check every hash chain and the global order; name the first bad event.
    Verify(cmd_verify::VerifyArgs),
    /// List or follow events of one stream or of the whole log.
    Events(cmd_events::EventsArgs),
    /// Read models: status and rebuild.
    #[command(subcommand)]
    Projections(cmd_projections::ProjectionsCommand),
    /// Benchmarks that print figures against a baseline measured in the same run.
    #[command(subcommand)]
    Bench(cmd_bench::BenchCommand),
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // `serve --config FILE` may also set the global store options left at their defaults.
    if let Command::Serve(args) = &cli.command
        && let Some(path) = &args.config
    {
        let from_default = |id: &str| {
            matches!(
                matches.value_source(id),
                None | Some(ValueSource::DefaultValue)
            )
        };
        if let Err(e) = server_config::apply_store_section(path, &mut cli.store, from_default) {
            eprintln!("error: {e:#}");
            return std::process::ExitCode::from(2);
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&cli.log))
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => cmd_serve::run(&cli.store, *args).await,
            Command::Token(cmd) => cmd_token::run(&cli.store, cmd).await,
            Command::Demo(args) => cmd_demo::run(&cli.store, args).await,
            Command::Verify(args) => cmd_verify::run(&cli.store, args).await,
            Command::Events(args) => cmd_events::run(&cli.store, args).await,
            Command::Projections(cmd) => cmd_projections::run(&cli.store, cmd).await,
            Command::Bench(cmd) => cmd_bench::run(cmd).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            match error_code(&e) {
                Some(code) => eprintln!("error [{code}]: {e:#}"),
                None => eprintln!("error: {e:#}"),
            }
            std::process::ExitCode::from(2)
        }
    }
}

/// The stable code of the first error in the chain that has one (store, app or domain).
fn error_code(e: &anyhow::Error) -> Option<&'static str> {
    e.chain().find_map(|cause| {
        if let Some(s) = cause.downcast_ref::<kasane_store::StoreError>() {
            Some(s.code())
        } else if let Some(p) = cause.downcast_ref::<kasane_projections::ProjectionError>() {
            Some(p.code())
        } else if let Some(a) = cause.downcast_ref::<kasane_app::AppError>() {
            Some(a.code())
        } else {
            cause
                .downcast_ref::<kasane_domain::DomainError>()
                .map(|d| d.code.as_str())
        }
    })
}
