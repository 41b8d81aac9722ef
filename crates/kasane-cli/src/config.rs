//! Where the store lives and how it is opened: flags with environment equivalents.

use anyhow::{Context, Result};
use kasane_domain::TenantId;
use kasane_projections::registry::{self, ProjectionSettings};
use kasane_projections::runner::ProjectionRunner;
use kasane_store::{Durability, EventStore, MasterKey, SqliteConfig, SqliteStore, StoreError};
use std::path::PathBuf;

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "kasane.db";
/// The generated master key's file name inside the data directory.
pub const KEY_FILE: &str = "master.key";

/// Options that say which store to open.
#[derive(clap::Args, Debug, Clone)]
pub struct StoreOptions {
    /// Directory holding the embedded store (created if missing).
    #[arg(
        long,
        env = "KASANE_DATA_DIR",
        default_value = "./kasane-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Tenant (municipality) slug the command acts for.
    #[arg(
        long,
        env = "KASANE_TENANT",
        default_value = "kasane-city",
        global = true
    )]
    pub tenant: String,
    /// File holding the 32-byte master key in hex. Without it (and without KASANE_MASTER_KEY)
    /// a key is generated into the data directory, with a warning.
    #[arg(long, env = "KASANE_MASTER_KEY_FILE", global = true)]
    pub master_key_file: Option<PathBuf>,
    /// The tenant's time zone (IANA name): months of reports are cut there.
    #[arg(
        long,
        env = "KASANE_TIME_ZONE",
        default_value = "Asia/Tokyo",
        global = true
    )]
    pub time_zone: chrono_tz::Tz,
    /// Commit durability: `full` (fsync per group commit) or `normal` (survives a process
    /// crash; the last commits may be lost on power loss).
    #[arg(long, env = "KASANE_DURABILITY", default_value = "full", global = true)]
    pub durability: Durability,
}

impl StoreOptions {
    /// The tenant, validated.
    pub fn tenant(&self) -> Result<TenantId> {
        TenantId::parse(&self.tenant).map_err(|e| anyhow::anyhow!("{}", e.message))
    }

    /// Resolves the master key: KASANE_MASTER_KEY (hex), then --master-key-file, then the
    /// data directory's own key file, generated on first use (with a warning) only when
    /// `may_generate`; otherwise `None`, so reading an existing store never leaves a new,
    /// wrong key file beside it.
    fn resolve_master_key(&self, may_generate: bool) -> Result<Option<MasterKey>> {
        if let Ok(hex) = std::env::var("KASANE_MASTER_KEY") {
            return MasterKey::from_hex(hex.trim())
                .map(Some)
                .context("KASANE_MASTER_KEY must be 64 hex characters (32 bytes)");
        }
        if let Some(path) = &self.master_key_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the master key file {}", path.display()))?;
            return MasterKey::from_hex(text.trim()).map(Some).with_context(|| {
                format!("{} must hold 64 hex characters (32 bytes)", path.display())
            });
        }
        std::fs::create_dir_all(&self.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                self.data_dir.display()
            )
        })?;
        let path = self.data_dir.join(KEY_FILE);
        if !may_generate && !path.exists() {
            return Ok(None);
        }
        let (key, generated) = MasterKey::load_or_generate(&path)?;
        if generated {
            eprintln!(
                "warning: no master key configured, so one was generated at {}. Keep a copy apart \
                 from the data (without it personal fields cannot be read) and set \
                 KASANE_MASTER_KEY or --master-key-file in production.",
                path.display()
            );
        }
        Ok(Some(key))
    }

    /// The SQLite store configuration (generating a master key for a new store).
    pub fn sqlite_config(&self) -> Result<SqliteConfig> {
        let key = self
            .resolve_master_key(true)?
            .expect("a key is generated when none is configured");
        Ok(self.config_with(key))
    }

    fn config_with(&self, key: MasterKey) -> SqliteConfig {
        let mut config = SqliteConfig::new(self.data_dir.join(DB_FILE), key);
        config.durability = self.durability;
        config
    }

    pub(crate) async fn open_with(&self, config: SqliteConfig) -> Result<SqliteStore> {
        let path = config.path.clone();
        SqliteStore::open(config)
            .await
            .with_context(|| format!("cannot open the store at {}", path.display()))
    }

    /// The projection runner for the store at `path`.
    pub fn projection_runner(&self, path: &std::path::Path) -> ProjectionRunner {
        let settings = ProjectionSettings {
            time_zone: self.time_zone,
        };
        ProjectionRunner::new(path, registry::all(&settings))
    }

    /// Opens the store with its read models kept current inline (in each append's
    /// transaction), after rebuilding any whose code version changed and catching up the rest
    /// (with a progress bar when that takes a while).
    pub async fn open_with_projections(
        &self,
        mut config: SqliteConfig,
    ) -> Result<(SqliteStore, ProjectionRunner)> {
        let runner = self.projection_runner(&config.path);
        config.inline = Some(runner.inline_hook());
        let store = self.open_with(config).await?;
        let ready = async {
            let reset = runner.prepare()?;
            if !reset.is_empty() {
                eprintln!(
                    "rebuilding projections whose code changed: {}",
                    reset.join(", ")
                );
            }
            catch_up_with_bar(&runner, &store).await
        };
        if let Err(e) = ready.await {
            store.close().await;
            return Err(e);
        }
        Ok((store, runner))
    }

    /// Opens an existing store like [`StoreOptions::open_existing`]; with `catch_up` it is
    /// then prepared like [`StoreOptions::open_with_projections`], otherwise the projections
    /// are only opened (for status and rebuild).
    pub async fn open_existing_with_projections(
        &self,
        catch_up: bool,
    ) -> Result<(SqliteStore, ProjectionRunner)> {
        let config = self.existing_config().await?;
        if catch_up {
            return self.open_with_projections(config).await;
        }
        let runner = self.projection_runner(&config.path);
        Ok((self.open_with(config).await?, runner))
    }

    /// Opens the embedded store only if it already exists (for read-only commands).
    pub async fn open_existing(&self) -> Result<SqliteStore> {
        let config = self.existing_config().await?;
        self.open_with(config).await
    }

    /// The configuration of the store that already exists in the data directory; never
    /// generates a master key, and says clearly what is missing.
    async fn existing_config(&self) -> Result<SqliteConfig> {
        let path = self.data_dir.join(DB_FILE);
        if !path.exists() {
            anyhow::bail!(
                "no store at {}: run `kasane demo` or point --data-dir at an existing data directory",
                path.display()
            );
        }
        if let Some(key) = self.resolve_master_key(false)? {
            return Ok(self.config_with(key));
        }
        // Open with a throwaway key that is never written, so that a file which is not a
        // store (or is too new) is reported as such; a key mismatch then means the real key
        // is missing.
        match SqliteStore::open(self.config_with(MasterKey::generate())).await {
            Err(StoreError::MasterKeyMismatch) => anyhow::bail!(
                "no master key for the store in {}: set KASANE_MASTER_KEY or \
                 --master-key-file to the key it was created with (or restore {KEY_FILE} \
                 into the data directory)",
                self.data_dir.display()
            ),
            Err(e) => Err(anyhow::Error::new(e)
                .context(format!("cannot open the store at {}", path.display()))),
            Ok(store) => {
                store.close().await;
                anyhow::bail!(
                    "the store in {} has no master key check: it cannot be read safely",
                    self.data_dir.display()
                )
            }
        }
    }
}

/// Catches the projections up with the log, showing a bar when more than a few thousand
/// events are missing.
pub async fn catch_up_with_bar(runner: &ProjectionRunner, store: &SqliteStore) -> Result<u64> {
    let head = store.head_position().await?;
    let behind = head.saturating_sub(runner.min_checkpoint()?);
    let bar = if behind > 5_000 {
        let bar = indicatif::ProgressBar::new(head);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "catching up projections {bar:40} {pos}/{len} events ({per_sec}, eta {eta})",
            )
            .expect("valid template"),
        );
        Some(bar)
    } else {
        None
    };
    let reached = runner
        .catch_up(store, &|pos, _| {
            if let Some(b) = &bar {
                b.set_position(pos)
            }
        })
        .await?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(reached)
}
