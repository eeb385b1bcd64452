//! AWS in one place: where the clients point ([`AwsConnection`]), the shared SDK
//! configuration loaded once and only when something needs it ([`Aws`]), the clients of the
//! services destinations, sources and checkpoints use, and SDK errors → [`ServiceError`]:
//! retryable or permanent, decided from the SDK's error kind, the service's error code and
//! the HTTP status — never from message text.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::Client;
use tokio::sync::OnceCell;

pub use aws_config::SdkConfig;

use crate::sink::{ErrorClass, SinkError};

/// An AWS service's error, classified: the caller retries it or gives up.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ServiceError {
    pub class: ErrorClass,
    /// `Service.Code`, e.g. `S3.SlowDown`, `Kinesis.ResourceNotFoundException`.
    pub code: String,
    pub message: String,
}

impl ServiceError {
    pub fn retryable(code: impl Into<String>, message: impl Into<String>) -> Self {
        ServiceError {
            class: ErrorClass::Retryable,
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn permanent(code: impl Into<String>, message: impl Into<String>) -> Self {
        ServiceError {
            class: ErrorClass::Permanent,
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn is_retryable(&self) -> bool {
        self.class == ErrorClass::Retryable
    }
}

impl From<ServiceError> for SinkError {
    fn from(e: ServiceError) -> Self {
        SinkError::new(e.class, e.code, e.message)
    }
}

/// The SDK configuration of one [`AwsConnection`], loaded on first use.
#[derive(Debug, Default)]
pub struct Aws {
    pub connection: AwsConnection,
    config: OnceCell<SdkConfig>,
}

impl Aws {
    pub fn new(connection: AwsConnection) -> Self {
        Aws {
            connection,
            config: OnceCell::new(),
        }
    }

    /// The SDK configuration, loaded the first time it is asked for.
    pub async fn config(&self) -> &SdkConfig {
        self.config
            .get_or_init(|| sdk_config(&self.connection))
            .await
    }

    pub async fn s3(&self) -> Client {
        s3_client(self.config().await, &self.connection)
    }

    pub async fn glue(&self) -> aws_sdk_glue::Client {
        glue_client(self.config().await)
    }

    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        dynamodb_client(self.config().await)
    }
}

/// Where the AWS clients point.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AwsConnection {
    /// Region override; default: the SDK chain (`AWS_REGION`, profile, …).
    pub region: Option<String>,
    /// Endpoint override; default: the SDK chain (`AWS_ENDPOINT_URL[_S3]`) or AWS.
    pub endpoint_url: Option<String>,
    /// Path-style addressing; default: on when an endpoint override is in effect (local
    /// S3-compatible stores rarely resolve bucket subdomains), else off.
    pub force_path_style: Option<bool>,
    /// S3 only: a request attempt still unfinished after this long is abandoned (and
    /// retried); default [`DEFAULT_REQUEST_TIMEOUT`]. Not applied to the other services: a
    /// Kinesis enhanced fan-out subscription is one request that lasts minutes.
    pub request_timeout: Option<std::time::Duration>,
}

/// How long an S3 request attempt may take unless configured.
pub const DEFAULT_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Loads the shared SDK configuration.
pub async fn sdk_config(connection: &AwsConnection) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = &connection.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(url) = &connection.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// An S3 client for `connection`.
pub fn s3_client(config: &aws_config::SdkConfig, connection: &AwsConnection) -> Client {
    let endpoint_overridden = connection.endpoint_url.is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
        || std::env::var_os("AWS_ENDPOINT_URL").is_some();
    let path_style = connection.force_path_style.unwrap_or(endpoint_overridden);
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .operation_attempt_timeout(
            connection
                .request_timeout
                .unwrap_or(DEFAULT_REQUEST_TIMEOUT),
        )
        .build();
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(path_style)
        .timeout_config(timeouts)
        .build();
    Client::from_conf(s3_config)
}

/// A DynamoDB client for the same configuration (endpoint from the SDK chain, e.g.
/// `AWS_ENDPOINT_URL_DYNAMODB`, unless the connection overrides it).
pub fn dynamodb_client(config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

/// A DynamoDB client whose request attempts are abandoned (and retried by the SDK) after
/// `attempt_timeout`.
pub fn dynamodb_client_with_timeout(
    config: &aws_config::SdkConfig,
    attempt_timeout: std::time::Duration,
) -> aws_sdk_dynamodb::Client {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .operation_attempt_timeout(attempt_timeout)
        .build();
    let dynamodb_config = aws_sdk_dynamodb::config::Builder::from(config)
        .timeout_config(timeouts)
        .build();
    aws_sdk_dynamodb::Client::from_conf(dynamodb_config)
}

/// A Glue client for the same configuration.
pub fn glue_client(config: &aws_config::SdkConfig) -> aws_sdk_glue::Client {
    aws_sdk_glue::Client::new(config)
}

/// Service error codes worth retrying whatever their HTTP status.
const RETRYABLE_CODES: &[&str] = &[
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "InternalServiceException",
    "ServiceUnavailable",
    "ProvisionedThroughputExceededException",
    "ConcurrentModificationException",
    "OperationTimeoutException",
];

/// The class of a service error from its code and HTTP status.
pub fn classify_service_error(code: Option<&str>, status: Option<u16>) -> ErrorClass {
    let retryable_code = code.is_some_and(|c| RETRYABLE_CODES.contains(&c));
    let retryable_status = status.is_some_and(|s| s == 429 || s >= 500);
    if retryable_code || retryable_status {
        ErrorClass::Retryable
    } else {
        ErrorClass::Permanent
    }
}

/// [`service_error`] as a sink's error.
pub fn sink_error<E>(
    service: &str,
    operation: &str,
    target: &str,
    error: SdkError<E, HttpResponse>,
) -> SinkError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    service_error(service, operation, target, error).into()
}

/// Converts an SDK error of `operation` on `target` (e.g. `s3://bucket/key`).
/// Codes look like `S3.SlowDown`, `Glue.EntityNotFoundException`, `S3.Timeout`.
pub fn service_error<E>(
    service: &str,
    operation: &str,
    target: &str,
    error: SdkError<E, HttpResponse>,
) -> ServiceError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = error.raw_response().map(|r| r.status().as_u16());
    let (class, code) = match &error {
        SdkError::TimeoutError(_) => (ErrorClass::Retryable, "Timeout".to_string()),
        SdkError::DispatchFailure(_) => (ErrorClass::Retryable, "ConnectionFailed".to_string()),
        SdkError::ResponseError(_) => (ErrorClass::Retryable, "BadResponse".to_string()),
        SdkError::ConstructionFailure(_) => (ErrorClass::Permanent, "BadRequest".to_string()),
        _ => {
            let code = error.code().map(str::to_string);
            let class = classify_service_error(code.as_deref(), status);
            (
                class,
                code.unwrap_or_else(|| format!("Http{}", status.unwrap_or(0))),
            )
        }
    };
    let detail = match error.message() {
        Some(m) => m.to_string(),
        None => aws_smithy_types::error::display::DisplayErrorContext(&error).to_string(),
    };
    let status = status.map(|s| format!(" (HTTP {s})")).unwrap_or_default();
    ServiceError {
        class,
        code: format!("{service}.{code}"),
        message: format!("{operation} {target} failed: {code}{status}: {detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_server_errors_retry_client_errors_do_not() {
        use ErrorClass::*;
        assert_eq!(
            classify_service_error(Some("SlowDown"), Some(503)),
            Retryable
        );
        assert_eq!(classify_service_error(Some("SlowDown"), None), Retryable);
        assert_eq!(classify_service_error(None, Some(500)), Retryable);
        assert_eq!(
            classify_service_error(Some("Whatever"), Some(429)),
            Retryable
        );
        assert_eq!(
            classify_service_error(Some("NoSuchBucket"), Some(404)),
            Permanent
        );
        assert_eq!(
            classify_service_error(Some("AccessDenied"), Some(403)),
            Permanent
        );
        assert_eq!(
            classify_service_error(Some("SignatureDoesNotMatch"), Some(403)),
            Permanent
        );
        assert_eq!(
            classify_service_error(Some("ConcurrentModificationException"), Some(400)),
            Retryable
        );
    }
}
