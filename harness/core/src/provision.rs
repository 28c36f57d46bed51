//! Which provisioner starts each engine, and the settings it needs.
//!
//! Settings come from four layers, highest first: command-line flags, environment
//! variables, a `cutover.toml` file, and built-in defaults (`auto`). This module
//! merges the layers and decides what `auto` means; it never probes the machine
//! itself — callers pass what they found in [`MachineFacts`].

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::Deserialize;
use thiserror::Error;

/// The three engines cutover drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    Postgres,
    DynamoDb,
    S3,
}

impl Engine {
    pub const ALL: [Engine; 3] = [Engine::Postgres, Engine::DynamoDb, Engine::S3];

    pub fn name(self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::DynamoDb => "dynamodb",
            Engine::S3 => "s3",
        }
    }

    /// The provisioners that can start this engine (besides `auto`).
    pub fn supported(self) -> &'static [Provisioner] {
        use Provisioner::*;
        match self {
            Engine::DynamoDb => &[Embedded, Local, Containers, Endpoint],
            Engine::Postgres | Engine::S3 => &[Embedded, Containers, Endpoint],
        }
    }

    /// The environment variable that selects this engine's provisioner.
    pub fn provisioner_env(self) -> &'static str {
        match self {
            Engine::Postgres => "CUTOVER_POSTGRES",
            Engine::DynamoDb => "CUTOVER_DYNAMODB",
            Engine::S3 => "CUTOVER_S3",
        }
    }

    /// The environment variable that names an existing endpoint for this engine.
    pub fn endpoint_env(self) -> &'static str {
        match self {
            Engine::Postgres => "CUTOVER_PG_URL",
            Engine::DynamoDb => "CUTOVER_DYNAMODB_ENDPOINT",
            Engine::S3 => "CUTOVER_S3_ENDPOINT",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How an engine is brought up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Provisioner {
    /// Decide from what the machine offers (see [`choose_auto`]).
    #[default]
    Auto,
    /// In-process or ephemeral, no set-up: Dynoxide, s3s-fs, an initdb cluster.
    Embedded,
    /// A local process of the reference engine (DynamoDB Local on a JVM).
    Local,
    /// testcontainers, when a Docker engine answers.
    Containers,
    /// An engine that already runs somewhere (a CI service, real AWS).
    Endpoint,
}

impl Provisioner {
    pub const NAMES: &'static str = "auto, embedded, local, containers, endpoint";

    pub fn name(self) -> &'static str {
        match self {
            Provisioner::Auto => "auto",
            Provisioner::Embedded => "embedded",
            Provisioner::Local => "local",
            Provisioner::Containers => "containers",
            Provisioner::Endpoint => "endpoint",
        }
    }
}

impl fmt::Display for Provisioner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Provisioner {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "auto" => Ok(Provisioner::Auto),
            "embedded" => Ok(Provisioner::Embedded),
            "local" => Ok(Provisioner::Local),
            "containers" => Ok(Provisioner::Containers),
            "endpoint" => Ok(Provisioner::Endpoint),
            other => Err(format!(
                "unknown provisioner {other:?} (expected one of: {})",
                Provisioner::NAMES
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Provisioner {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("failed to parse {source_name}: {message}")]
    File {
        source_name: String,
        message: String,
    },
    #[error("{origin}: {message}")]
    InvalidValue { origin: String, message: String },
    #[error(
        "{engine} cannot use the {provisioner} provisioner (set by {origin}); it supports: {supported}"
    )]
    Unsupported {
        engine: Engine,
        provisioner: Provisioner,
        origin: String,
        supported: String,
    },
}

/// One layer of settings for one engine: every field optional, so layers merge.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineLayer {
    pub provisioner: Option<Provisioner>,
    /// PostgreSQL: an admin connection URL. DynamoDB and S3: an HTTP(S) endpoint.
    pub endpoint: Option<String>,
    /// PostgreSQL: directory with `initdb` and `postgres`.
    /// DynamoDB: directory with `DynamoDBLocal.jar` and `DynamoDBLocal_lib/`.
    pub dir: Option<PathBuf>,
}

impl EngineLayer {
    fn over(self, lower: EngineLayer) -> EngineLayer {
        EngineLayer {
            provisioner: self.provisioner.or(lower.provisioner),
            endpoint: self.endpoint.or(lower.endpoint),
            dir: self.dir.or(lower.dir),
        }
    }
}

/// One layer of settings for all engines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsLayer {
    #[serde(default)]
    pub postgres: EngineLayer,
    #[serde(default)]
    pub dynamodb: EngineLayer,
    #[serde(default)]
    pub s3: EngineLayer,
    /// AWS region for the SDK clients (the endpoint provisioner on real AWS uses it).
    pub region: Option<String>,
}

impl SettingsLayer {
    pub fn engine(&self, engine: Engine) -> &EngineLayer {
        match engine {
            Engine::Postgres => &self.postgres,
            Engine::DynamoDb => &self.dynamodb,
            Engine::S3 => &self.s3,
        }
    }

    fn engine_mut(&mut self, engine: Engine) -> &mut EngineLayer {
        match engine {
            Engine::Postgres => &mut self.postgres,
            Engine::DynamoDb => &mut self.dynamodb,
            Engine::S3 => &mut self.s3,
        }
    }

    /// This layer with `lower` filling its gaps.
    pub fn over(self, lower: SettingsLayer) -> SettingsLayer {
        SettingsLayer {
            postgres: self.postgres.over(lower.postgres),
            dynamodb: self.dynamodb.over(lower.dynamodb),
            s3: self.s3.over(lower.s3),
            region: self.region.or(lower.region),
        }
    }

    /// Parses the `[backends]` table of a `cutover.toml`. `source_name` (the file's
    /// path) is named in errors.
    pub fn from_toml(text: &str, source_name: &str) -> Result<SettingsLayer, ConfigError> {
        #[derive(Deserialize)]
        struct File {
            #[serde(default)]
            backends: SettingsLayer,
        }
        toml::from_str::<File>(text)
            .map(|file| file.backends)
            .map_err(|err| ConfigError::File {
                source_name: source_name.to_owned(),
                message: err.to_string(),
            })
    }

    /// Reads the `CUTOVER_*` variables through `lookup` (the process environment in
    /// production, a map in tests).
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<SettingsLayer, ConfigError> {
        let mut layer = SettingsLayer::default();
        for engine in Engine::ALL {
            let var = engine.provisioner_env();
            if let Some(value) = lookup(var).filter(|v| !v.is_empty()) {
                let provisioner = value.parse().map_err(|message| ConfigError::InvalidValue {
                    origin: format!("environment variable {var}"),
                    message,
                })?;
                layer.engine_mut(engine).provisioner = Some(provisioner);
            }
            layer.engine_mut(engine).endpoint =
                lookup(engine.endpoint_env()).filter(|v| !v.is_empty());
        }
        layer.postgres.dir = lookup("CUTOVER_PG_BIN_DIR").map(PathBuf::from);
        layer.dynamodb.dir = lookup("CUTOVER_DYNAMODB_LOCAL_DIR").map(PathBuf::from);
        layer.region = lookup("AWS_REGION")
            .or_else(|| lookup("AWS_DEFAULT_REGION"))
            .filter(|v| !v.is_empty());
        Ok(layer)
    }
}

/// What the caller found out about the machine, for resolving `auto`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MachineFacts {
    pub postgres_binaries_found: bool,
    pub docker_answers: bool,
}

/// What `auto` means for `engine` given the settings and the machine:
/// an endpoint when one is configured, else the embedded engine when it can run,
/// else containers when Docker answers. `None` when nothing can start it.
pub fn choose_auto(
    engine: Engine,
    layer: &EngineLayer,
    facts: MachineFacts,
) -> Option<Provisioner> {
    if layer.endpoint.is_some() {
        return Some(Provisioner::Endpoint);
    }
    let embedded_runs = match engine {
        Engine::Postgres => facts.postgres_binaries_found,
        Engine::DynamoDb | Engine::S3 => true,
    };
    if embedded_runs {
        Some(Provisioner::Embedded)
    } else if facts.docker_answers {
        Some(Provisioner::Containers)
    } else {
        None
    }
}

/// Checks that each explicitly chosen provisioner is one the engine supports;
/// `origin` names where the settings came from for the error message.
pub fn validate(layer: &SettingsLayer, origin: &str) -> Result<(), ConfigError> {
    for engine in Engine::ALL {
        if let Some(provisioner) = layer.engine(engine).provisioner
            && provisioner != Provisioner::Auto
            && !engine.supported().contains(&provisioner)
        {
            return Err(ConfigError::Unsupported {
                engine,
                provisioner,
                origin: origin.to_owned(),
                supported: engine
                    .supported()
                    .iter()
                    .map(|p| p.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |key| map.get(key).cloned()
    }

    #[test]
    fn flags_beat_env_beat_file() {
        let file = SettingsLayer::from_toml(
            "[backends.dynamodb]\nprovisioner = \"local\"\n[backends.s3]\nprovisioner = \"containers\"\n[backends.postgres]\nprovisioner = \"containers\"\n",
            "cutover.toml",
        )
        .unwrap();
        let from_env = SettingsLayer::from_env(env(&[
            ("CUTOVER_S3", "embedded"),
            ("CUTOVER_POSTGRES", "endpoint"),
        ]))
        .unwrap();
        let mut flags = SettingsLayer::default();
        flags.postgres.provisioner = Some(Provisioner::Embedded);

        let merged = flags.over(from_env.over(file));
        assert_eq!(merged.postgres.provisioner, Some(Provisioner::Embedded));
        assert_eq!(merged.s3.provisioner, Some(Provisioner::Embedded));
        assert_eq!(merged.dynamodb.provisioner, Some(Provisioner::Local));
    }

    #[test]
    fn env_reads_endpoints_and_dirs() {
        let layer = SettingsLayer::from_env(env(&[
            ("CUTOVER_PG_URL", "postgres://u@h/db"),
            ("CUTOVER_DYNAMODB_ENDPOINT", "http://127.0.0.1:8000"),
            ("CUTOVER_DYNAMODB_LOCAL_DIR", "/opt/ddb"),
            ("AWS_DEFAULT_REGION", "eu-west-1"),
        ]))
        .unwrap();
        assert_eq!(
            layer.postgres.endpoint.as_deref(),
            Some("postgres://u@h/db")
        );
        assert_eq!(
            layer.dynamodb.endpoint.as_deref(),
            Some("http://127.0.0.1:8000")
        );
        assert_eq!(layer.dynamodb.dir, Some(PathBuf::from("/opt/ddb")));
        assert_eq!(layer.region.as_deref(), Some("eu-west-1"));
        assert_eq!(layer.s3.endpoint, None);
    }

    #[test]
    fn a_bad_env_value_names_the_variable_and_value() {
        let err = SettingsLayer::from_env(env(&[("CUTOVER_DYNAMODB", "dynalite")])).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("CUTOVER_DYNAMODB"), "{message}");
        assert!(message.contains("\"dynalite\""), "{message}");
    }

    #[test]
    fn a_bad_file_names_the_file_and_field() {
        let err = SettingsLayer::from_toml(
            "[backends.s3]\nprovisoner = \"embedded\"\n",
            "conf/cutover.toml",
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("conf/cutover.toml"), "{message}");
        assert!(message.contains("provisoner"), "{message}");
        assert!(message.contains("line 2"), "{message}");
    }

    #[test]
    fn unsupported_provisioners_are_refused() {
        let mut layer = SettingsLayer::default();
        layer.postgres.provisioner = Some(Provisioner::Local);
        let message = validate(&layer, "--postgres").unwrap_err().to_string();
        assert!(
            message.contains("postgres cannot use the local provisioner"),
            "{message}"
        );
        assert!(message.contains("--postgres"), "{message}");

        layer.postgres.provisioner = None;
        layer.dynamodb.provisioner = Some(Provisioner::Local);
        assert!(validate(&layer, "flags").is_ok());
    }

    #[test]
    fn auto_prefers_endpoint_then_embedded_then_containers() {
        let none = MachineFacts::default();
        let docker = MachineFacts {
            docker_answers: true,
            ..none
        };
        let binaries = MachineFacts {
            postgres_binaries_found: true,
            ..none
        };
        let with_endpoint = EngineLayer {
            endpoint: Some("x".into()),
            ..Default::default()
        };
        let plain = EngineLayer::default();

        assert_eq!(
            choose_auto(Engine::Postgres, &with_endpoint, none),
            Some(Provisioner::Endpoint)
        );
        assert_eq!(
            choose_auto(Engine::Postgres, &plain, binaries),
            Some(Provisioner::Embedded)
        );
        assert_eq!(
            choose_auto(Engine::Postgres, &plain, docker),
            Some(Provisioner::Containers)
        );
        assert_eq!(choose_auto(Engine::Postgres, &plain, none), None);
        assert_eq!(
            choose_auto(Engine::DynamoDb, &plain, none),
            Some(Provisioner::Embedded)
        );
        assert_eq!(
            choose_auto(Engine::S3, &plain, none),
            Some(Provisioner::Embedded)
        );
    }
}
