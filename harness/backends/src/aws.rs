//! AWS SDK client construction, shared by every DynamoDB and S3 provisioner.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_smithy_http_client::tls;

/// Region used when nothing else is configured; local engines ignore it.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Where an AWS-API engine is and how to sign requests to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsEndpoint {
    /// `None` means the real AWS endpoint for `region`.
    pub url: Option<String>,
    pub region: String,
    /// `None` means the standard AWS credential chain (environment, profile, SSO, IMDS...).
    pub credentials: Option<StaticCredentials>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct StaticCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl StaticCredentials {
    pub fn new(access_key_id: &str, secret_access_key: &str) -> Self {
        StaticCredentials {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret_access_key.to_owned(),
        }
    }
}

/// Bounds on every SDK call, so one stalled connection cannot hang a writer:
/// an attempt (one HTTP exchange, up to an 8 MiB multipart part) gets 60 s,
/// a whole operation with the SDK's retries 180 s, a connection 5 s.
pub fn sdk_timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .operation_attempt_timeout(std::time::Duration::from_secs(60))
        .operation_timeout(std::time::Duration::from_secs(180))
        .build()
}

/// Local engines accept any signature; one fixed key keeps DynamoDB Local's
/// per-key databases from splitting (it also runs with `-sharedDb`).
pub fn local_credentials() -> StaticCredentials {
    StaticCredentials::new("cutover", "cutover-secret")
}

impl AwsEndpoint {
    /// An engine on this machine that accepts any well-formed signature.
    pub fn local(url: String, credentials: StaticCredentials) -> Self {
        AwsEndpoint {
            url: Some(url),
            region: DEFAULT_REGION.to_owned(),
            credentials: Some(credentials),
        }
    }

    /// A loopback endpoint nobody listens on: every request fails at once, as
    /// when an engine is down. For outage tests.
    pub fn unreachable() -> std::io::Result<Self> {
        let port = crate::process::free_loopback_port()?;
        Ok(AwsEndpoint::local(
            format!("http://127.0.0.1:{port}"),
            local_credentials(),
        ))
    }

    /// An existing endpoint: a URL (a CI service, a shared emulator) or, with
    /// none, real AWS. Credentials come from the standard chain when the
    /// environment configures any; a URL without them gets the local dummy key.
    pub fn existing(url: Option<String>, region: Option<&str>) -> Self {
        let chain_configured = std::env::var_os("AWS_ACCESS_KEY_ID").is_some()
            || std::env::var_os("AWS_PROFILE").is_some();
        AwsEndpoint {
            credentials: if url.is_some() && !chain_configured {
                Some(local_credentials())
            } else {
                None
            },
            url,
            region: region.unwrap_or(DEFAULT_REGION).to_owned(),
        }
    }

    /// Builds the SDK configuration (with `sdk_timeouts`). Uses rustls with ring, which builds much
    /// faster than the SDK's default aws-lc and is all the harness needs.
    pub async fn sdk_config(&self) -> SdkConfig {
        self.sdk_config_with(sdk_timeouts()).await
    }

    /// `sdk_config` with other timeouts (tests that stall an engine on purpose).
    pub async fn sdk_config_with(&self, timeouts: aws_config::timeout::TimeoutConfig) -> SdkConfig {
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client)
            .timeout_config(timeouts)
            .region(Region::new(self.region.clone()));
        if let Some(url) = &self.url {
            loader = loader.endpoint_url(url);
        }
        if let Some(credentials) = &self.credentials {
            loader = loader.credentials_provider(Credentials::from_keys(
                &credentials.access_key_id,
                &credentials.secret_access_key,
                None,
            ));
        }
        loader.load().await
    }

    pub async fn dynamodb_client(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk_config().await)
    }

    /// A DynamoDB client that fails fast instead of retrying, for readiness polls.
    pub(crate) async fn dynamodb_probe_client(&self) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::config::Builder::from(&self.sdk_config().await)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    pub async fn s3_client(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&self.sdk_config().await)
            // Local S3 servers answer on one host; real AWS accepts path style too.
            .force_path_style(self.url.is_some())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sdk_call_is_bounded() {
        let timeouts = sdk_timeouts();
        assert!(timeouts.connect_timeout().is_some());
        assert!(timeouts.operation_attempt_timeout().is_some());
        assert!(timeouts.operation_timeout().is_some());
    }
}
