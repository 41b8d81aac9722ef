//! Settings of `kasane serve` and `kasane token`: flags, environment variables and an optional
//! TOML file (flags and environment win over the file; the file wins over defaults).

use anyhow::{Context, Result, bail};
use kasane_api::{Limits, OidcIssuer, TokenSigner};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The token-signing secret's file name inside the data directory.
pub const JWT_KEY_FILE: &str = "jwt.key";

/// Where the token-signing secret comes from (shared by `serve` and `token issue`).
#[derive(clap::Args, Debug, Clone)]
pub struct SecretOptions {
    /// File holding the token-signing secret (64 hex characters). Without it (and without
    /// KASANE_JWT_SECRET) one is generated into the data directory as `jwt.key`.
    #[arg(long, env = "KASANE_JWT_SECRET_FILE")]
    pub jwt_secret_file: Option<PathBuf>,
}

impl SecretOptions {
    /// The signer: KASANE_JWT_SECRET (hex), then --jwt-secret-file, then `jwt.key` in the data
    /// directory, generated on first use with a warning.
    pub fn signer(&self, data_dir: &Path) -> Result<TokenSigner> {
        if let Ok(hex_text) = std::env::var("KASANE_JWT_SECRET") {
            return parse_secret(&hex_text).context("KASANE_JWT_SECRET");
        }
        if let Some(path) = &self.jwt_secret_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the token secret {}", path.display()))?;
            return parse_secret(&text).with_context(|| path.display().to_string());
        }
        let path = data_dir.join(JWT_KEY_FILE);
        if path.exists() {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read the token secret {}", path.display()))?;
            return parse_secret(&text).with_context(|| path.display().to_string());
        }
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
        let secret: [u8; 32] = rand::random();
        write_private(&path, &hex::encode(secret))?;
        eprintln!(
            "warning: generated a token-signing secret at {} (set KASANE_JWT_SECRET or \
             --jwt-secret-file in production, and keep it apart from the data)",
            path.display()
        );
        Ok(TokenSigner::new(&secret))
    }
}

fn parse_secret(text: &str) -> Result<TokenSigner> {
    let bytes = hex::decode(text.trim()).context("the token secret must be hex")?;
    if bytes.len() < 32 {
        bail!("the token secret must be at least 32 bytes (64 hex characters)");
    }
    Ok(TokenSigner::new(&bytes))
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// Flags of `kasane serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "KASANE_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Create the demo town on first start (when the store is empty) and print tokens.
    #[arg(long)]
    pub demo: bool,
    /// Optional TOML file with `[server]`, `[limits]` and `[oidc]` settings.
    #[arg(long, env = "KASANE_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub secret: SecretOptions,
    /// Accept tokens of this external OIDC issuer (its `iss`).
    #[arg(long, env = "KASANE_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// The issuer's JWKS document, saved to a file.
    #[arg(long, env = "KASANE_OIDC_JWKS_FILE")]
    pub oidc_jwks_file: Option<PathBuf>,
    /// The claim of external tokens that holds the Kasane member id [default: kasane_member].
    #[arg(long, env = "KASANE_OIDC_MEMBER_CLAIM")]
    pub oidc_member_claim: Option<String>,
    /// The `aud` external tokens must carry.
    #[arg(long, env = "KASANE_OIDC_AUDIENCE")]
    pub oidc_audience: Option<String>,
    /// The claim of external tokens that holds the tenant slug (checked when set).
    #[arg(long, env = "KASANE_OIDC_TENANT_CLAIM")]
    pub oidc_tenant_claim: Option<String>,
    /// Largest page (`first`) [default: 100].
    #[arg(long, env = "KASANE_MAX_PAGE")]
    pub max_page: Option<usize>,
    /// Deepest query nesting [default: 12].
    #[arg(long, env = "KASANE_MAX_DEPTH")]
    pub max_depth: Option<usize>,
    /// Largest query complexity [default: 5000].
    #[arg(long, env = "KASANE_MAX_COMPLEXITY")]
    pub max_complexity: Option<usize>,
    /// Largest request body in bytes [default: 262144].
    #[arg(long, env = "KASANE_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Sustained requests per second per token; 0 turns the limit off [default: 100].
    #[arg(long, env = "KASANE_RATE_PER_SECOND")]
    pub rate_per_second: Option<u32>,
    /// Burst of requests per token above the sustained rate [default: 400].
    #[arg(long, env = "KASANE_RATE_BURST")]
    pub rate_burst: Option<u32>,
}

/// The TOML file's shape; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeFile {
    #[serde(default)]
    store: StoreSection,
    #[serde(default)]
    server: ServerSection,
    #[serde(default)]
    limits: LimitsSection,
    oidc: Option<OidcSection>,
}

/// The global store options, for when they are not given as flags or environment variables.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreSection {
    data_dir: Option<PathBuf>,
    tenant: Option<String>,
    time_zone: Option<String>,
    durability: Option<String>,
    master_key_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerSection {
    listen: Option<SocketAddr>,
    jwt_secret_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    max_page: Option<usize>,
    max_depth: Option<usize>,
    max_complexity: Option<usize>,
    max_body_bytes: Option<usize>,
    rate_per_second: Option<u32>,
    rate_burst: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OidcSection {
    issuer: String,
    jwks_file: PathBuf,
    member_claim: Option<String>,
    audience: Option<String>,
    tenant_claim: Option<String>,
}

/// `kasane serve`'s resolved settings.
pub struct ServeSettings {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Request limits.
    pub limits: Limits,
    /// The external issuer, if configured.
    pub oidc: Option<OidcIssuer>,
    /// Where the signing secret comes from.
    pub secret: SecretOptions,
}

/// Reads the configuration file.
fn read_file(path: &Path) -> Result<ServeFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text)
        .with_context(|| format!("{} is not a valid Kasane configuration", path.display()))
}

/// Applies the file's `[store]` section to the global store options that were left at their
/// defaults (`from_default(id)` says which); flags and environment variables win.
pub fn apply_store_section(
    path: &Path,
    store: &mut crate::config::StoreOptions,
    from_default: impl Fn(&str) -> bool,
) -> Result<()> {
    let section = read_file(path)?.store;
    if let Some(v) = section.data_dir.filter(|_| from_default("data_dir")) {
        store.data_dir = v;
    }
    if let Some(v) = section.tenant.filter(|_| from_default("tenant")) {
        store.tenant = v;
    }
    if let Some(v) = section.time_zone.filter(|_| from_default("time_zone")) {
        store.time_zone = v
            .parse()
            .map_err(|_| anyhow::anyhow!("[store] time_zone {v:?} is not an IANA zone name"))?;
    }
    if let Some(v) = section.durability.filter(|_| from_default("durability")) {
        store.durability = v
            .parse()
            .map_err(|_| anyhow::anyhow!("[store] durability must be \"full\" or \"normal\""))?;
    }
    if let Some(v) = section
        .master_key_file
        .filter(|_| from_default("master_key_file"))
    {
        store.master_key_file = Some(v);
    }
    Ok(())
}

impl ServeArgs {
    /// Merges flags and environment over the file over defaults.
    pub fn resolve(&self) -> Result<ServeSettings> {
        let file: ServeFile = match &self.config {
            Some(path) => read_file(path)?,
            None => ServeFile::default(),
        };
        let defaults = Limits::default();
        let l = &file.limits;
        let limits = Limits {
            max_page: self.max_page.or(l.max_page).unwrap_or(defaults.max_page),
            max_depth: self.max_depth.or(l.max_depth).unwrap_or(defaults.max_depth),
            max_complexity: self
                .max_complexity
                .or(l.max_complexity)
                .unwrap_or(defaults.max_complexity),
            max_body_bytes: self
                .max_body_bytes
                .or(l.max_body_bytes)
                .unwrap_or(defaults.max_body_bytes),
            requests_per_second: self
                .rate_per_second
                .or(l.rate_per_second)
                .unwrap_or(defaults.requests_per_second),
            burst: self.rate_burst.or(l.rate_burst).unwrap_or(defaults.burst),
        };
        let file_oidc = file.oidc.as_ref();
        let issuer = self
            .oidc_issuer
            .clone()
            .or_else(|| file_oidc.map(|o| o.issuer.clone()));
        let oidc = match issuer {
            None => None,
            Some(issuer) => {
                let jwks_file = self
                    .oidc_jwks_file
                    .clone()
                    .or_else(|| file_oidc.map(|o| o.jwks_file.clone()))
                    .context("an OIDC issuer needs its keys: set --oidc-jwks-file")?;
                let text = std::fs::read_to_string(&jwks_file)
                    .with_context(|| format!("cannot read {}", jwks_file.display()))?;
                let keys = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not a JWKS document", jwks_file.display()))?;
                Some(OidcIssuer {
                    issuer,
                    audience: self
                        .oidc_audience
                        .clone()
                        .or_else(|| file_oidc.and_then(|o| o.audience.clone())),
                    keys,
                    member_claim: self
                        .oidc_member_claim
                        .clone()
                        .or_else(|| file_oidc.and_then(|o| o.member_claim.clone()))
                        .unwrap_or_else(|| "kasane_member".to_owned()),
                    tenant_claim: self
                        .oidc_tenant_claim
                        .clone()
                        .or_else(|| file_oidc.and_then(|o| o.tenant_claim.clone())),
                })
            }
        };
        Ok(ServeSettings {
            listen: self
                .listen
                .or(file.server.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            limits,
            oidc,
            secret: SecretOptions {
                jwt_secret_file: self
                    .secret
                    .jwt_secret_file
                    .clone()
                    .or(file.server.jwt_secret_file),
            },
        })
    }
}

/// Parses a duration such as `8h`, `30m`, `90s` or `7d`.
pub fn parse_ttl(text: &str) -> Result<chrono::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} needs a unit: s, m, h or d (e.g. 8h)"))?;
    let (number, unit) = text.split_at(split);
    let n: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} must start with a whole number (e.g. 8h)"))?;
    let ttl = match unit {
        "s" => chrono::Duration::seconds(n),
        "m" => chrono::Duration::minutes(n),
        "h" => chrono::Duration::hours(n),
        "d" => chrono::Duration::days(n),
        _ => return Err(format!("unknown unit {unit:?}: use s, m, h or d")),
    };
    if ttl <= chrono::Duration::zero() || ttl > chrono::Duration::days(366) {
        return Err("the lifetime must be between 1s and 366d".to_owned());
    }
    Ok(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_parse_with_units_and_bad_ones_are_explained() {
        assert_eq!(parse_ttl("8h").unwrap(), chrono::Duration::hours(8));
        assert_eq!(parse_ttl("90s").unwrap(), chrono::Duration::seconds(90));
        assert!(parse_ttl("8").unwrap_err().contains("unit"));
        assert!(parse_ttl("8w").unwrap_err().contains("unknown unit"));
        assert!(parse_ttl("0h").is_err());
    }

    #[test]
    fn the_file_is_read_and_unknown_keys_are_refused() {
        let file: ServeFile = toml::from_str(
            "[store]\ntenant = \"minato\"\n[server]\nlisten = \"127.0.0.1:9000\"\n[limits]\nmax_page = 50\n",
        )
        .unwrap();
        assert_eq!(file.limits.max_page, Some(50));
        assert_eq!(file.store.tenant.as_deref(), Some("minato"));
        assert!(toml::from_str::<ServeFile>("[limits]\nmax_pages = 5\n").is_err());
    }
}
