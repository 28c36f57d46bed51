//! The flags that say who performs a run's operations, and how the items it
//! writes are laid out: shared by `replay` and `rollback-drill`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cutover_core::profile::Profile;
use cutover_replay::run::Performer;

#[derive(Debug, Clone, clap::Args)]
pub struct PerformerArgs {
    /// Write DynamoDB items as this app profile lays them out (profiles/README.md),
    /// e.g. profiles/electrodb.toml; PostgreSQL stays the reference app's schema.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Perform the operations with the app's own code: a command that speaks
    /// the driver protocol on stdin/stdout, or an http:// URL that serves it
    /// (docs/driver-protocol.md), e.g. 'node drivers/outbox/main.mjs'.
    /// Default: cutover's built-in Rust path.
    #[arg(long, value_name = "COMMAND|URL")]
    pub driver: Option<String>,
    /// How long the driver may take over one operation before the run stops.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = crate::ranges::duration)]
    pub driver_timeout: Duration,
}

impl PerformerArgs {
    /// The profile given, checked, or the reference app's.
    pub fn load_profile(&self) -> anyhow::Result<Arc<Profile>> {
        crate::input::load_profile(self.profile.as_deref())
    }

    /// Who performs the operations: the driver (told about the profile when
    /// one is given), else the built-in path.
    pub fn performer(&self) -> Performer {
        match &self.driver {
            None => Performer::BuiltIn,
            Some(command) => Performer::External {
                command: command.clone(),
                profile_path: self.profile.clone(),
                operation_timeout: self.driver_timeout,
            },
        }
    }

    /// `--profile` and `--driver` as given, for a command that reproduces
    /// the run (the driver quoted as one shell word).
    pub fn as_flags(&self) -> String {
        let mut flags = String::new();
        if let Some(profile) = &self.profile {
            flags.push_str(&format!(" --profile {}", profile.display()));
        }
        if let Some(driver) = &self.driver {
            flags.push_str(&format!(" --driver {}", shell_quote(driver)));
        }
        flags
    }
}

/// `text` as one shell word.
fn shell_quote(text: &str) -> String {
    shlex::try_quote(text)
        .map(|quoted| quoted.into_owned())
        .unwrap_or_else(|_| format!("{text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reproducing_flags_quote_the_driver_as_one_word() {
        let args = PerformerArgs {
            profile: Some("profiles/electrodb.toml".into()),
            driver: Some("node drivers/naive/main.mjs".into()),
            driver_timeout: Duration::from_secs(30),
        };
        assert_eq!(
            args.as_flags(),
            " --profile profiles/electrodb.toml --driver 'node drivers/naive/main.mjs'"
        );
        let built_in = PerformerArgs {
            profile: None,
            driver: None,
            driver_timeout: Duration::from_secs(30),
        };
        assert_eq!(built_in.as_flags(), "");
        assert!(matches!(built_in.performer(), Performer::BuiltIn));
        assert!(matches!(
            args.performer(),
            Performer::External {
                profile_path: Some(_),
                ..
            }
        ));
    }
}
