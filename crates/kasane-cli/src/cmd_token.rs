//! `kasane token issue`: signs a bearer token for a member, for GraphiQL, scripts and tests.

use crate::config::{DB_FILE, StoreOptions};
use crate::server_config::{SecretOptions, parse_ttl};
use anyhow::{Context, Result, bail};
use kasane_domain::MemberId;
use std::process::ExitCode;

/// Token commands.
#[derive(clap::Subcommand, Debug)]
pub enum TokenCommand {
    /// Print a signed token for an enrolled, active member.
    Issue {
        /// The member's id.
        #[arg(long)]
        member: uuid::Uuid,
        /// Lifetime, e.g. 8h, 30m, 7d.
        #[arg(long, default_value = "8h", value_parser = parse_ttl)]
        ttl: chrono::Duration,
        #[command(flatten)]
        secret: SecretOptions,
    },
}

/// Runs a token command.
pub async fn run(opts: &StoreOptions, cmd: TokenCommand) -> Result<ExitCode> {
    let TokenCommand::Issue {
        member,
        ttl,
        secret,
    } = cmd;
    let member = MemberId::from_uuid(member);
    let tenant = opts.tenant()?;
    let path = opts.data_dir.join(DB_FILE);
    if !path.exists() {
        bail!(
            "no store at {}: run `kasane demo` (or `kasane serve --demo`) first",
            path.display()
        );
    }
    let conn = kasane_projections::runner::open_read(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let record = kasane_projections::directory::member(&conn, tenant.as_str(), member)?;
    match record {
        None => bail!(
            "[UNKNOWN_MEMBER] member {member} is not enrolled in tenant {}: `kasane events` or the \
             `members` query lists enrolled members",
            tenant.as_str()
        ),
        Some(m) if !m.active => bail!(
            "[MEMBER_SUSPENDED] member {member} is suspended: reinstate them before issuing a token"
        ),
        Some(_) => {}
    }
    let signer = secret.signer(&opts.data_dir)?;
    println!("{}", signer.issue(&tenant, member, ttl, chrono::Utc::now()));
    Ok(ExitCode::SUCCESS)
}
