//! Reading settings from the places a user puts them, and resolving `auto` by
//! probing this machine. The merging rules themselves are pure and live in
//! `cutover_core::provision`.

use std::path::{Path, PathBuf};

use cutover_core::provision::{self, Engine, MachineFacts, Provisioner, SettingsLayer};

use crate::error::BackendError;
use crate::postgres::ServerBinaries;

/// The file looked for in the working directory when no `--config` is given.
pub const DEFAULT_CONFIG_FILE: &str = "cutover.toml";

/// Merges `flags` over the environment over the config file (`config_path`, or
/// `./cutover.toml` when it exists).
pub fn load(
    flags: SettingsLayer,
    config_path: Option<&Path>,
) -> Result<SettingsLayer, BackendError> {
    provision::validate(&flags, "command-line flags")?;
    let file = match config_path {
        Some(path) => Some(path.to_owned()),
        None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|path| path.is_file()),
    };
    let file_layer = match &file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(BackendError::io("reading", path))?;
            let layer = SettingsLayer::from_toml(&text, &path.display().to_string())?;
            provision::validate(&layer, &path.display().to_string())?;
            layer
        }
        None => SettingsLayer::default(),
    };
    let env_layer = SettingsLayer::from_env(|key| std::env::var(key).ok())?;
    provision::validate(&env_layer, "environment variables")?;
    Ok(flags.over(env_layer.over(file_layer)))
}

/// Which provisioner starts each engine, with `auto` resolved.
#[derive(Debug, Clone)]
pub struct Plan {
    pub postgres: Provisioner,
    pub dynamodb: Provisioner,
    pub s3: Provisioner,
    pub settings: SettingsLayer,
}

impl Plan {
    /// Resolves every `auto` in `settings` against what this machine offers.
    pub fn resolve(settings: SettingsLayer) -> Result<Plan, BackendError> {
        let mut facts = None;
        let mut choose = |engine: Engine| -> Result<Provisioner, BackendError> {
            let layer = settings.engine(engine);
            match layer.provisioner.unwrap_or_default() {
                Provisioner::Auto => {
                    let facts = *facts.get_or_insert_with(|| MachineFacts {
                        postgres_binaries_found: ServerBinaries::locate(
                            settings.postgres.dir.as_deref(),
                        )
                        .is_ok(),
                        docker_answers: crate::docker::probe().is_ok(),
                    });
                    provision::choose_auto(engine, layer, facts).ok_or_else(|| BackendError::NoProvisioner {
                        engine,
                        why: "no endpoint is configured, the embedded engine cannot run, and no Docker engine answers".to_owned(),
                        remedy: match engine {
                            Engine::Postgres => crate::postgres::ephemeral::INSTALL_REMEDY.to_owned(),
                            _ => format!("set {} or start a Docker engine", engine.endpoint_env()),
                        },
                    })
                }
                chosen => Ok(chosen),
            }
        };
        Ok(Plan {
            postgres: choose(Engine::Postgres)?,
            dynamodb: choose(Engine::DynamoDb)?,
            s3: choose(Engine::S3)?,
            settings,
        })
    }

    /// Embedded engines for all three: the zero-set-up default.
    pub fn embedded() -> Plan {
        Plan {
            postgres: Provisioner::Embedded,
            dynamodb: Provisioner::Embedded,
            s3: Provisioner::Embedded,
            settings: SettingsLayer::default(),
        }
    }

    pub fn with(mut self, engine: Engine, provisioner: Provisioner) -> Plan {
        match engine {
            Engine::Postgres => self.postgres = provisioner,
            Engine::DynamoDb => self.dynamodb = provisioner,
            Engine::S3 => self.s3 = provisioner,
        }
        self
    }

    pub fn provisioner(&self, engine: Engine) -> Provisioner {
        match engine {
            Engine::Postgres => self.postgres,
            Engine::DynamoDb => self.dynamodb,
            Engine::S3 => self.s3,
        }
    }
}
