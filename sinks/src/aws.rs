//! AWS SDK errors → [`SinkError`]: retryable or permanent, decided from the SDK's error kind,
//! the service's error code and the HTTP status — never from message text. Shared by the S3
//! store and the Glue catalog (and, later, the Kinesis and DynamoDB code).

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use crate::sink::{ErrorClass, SinkError};

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

/// Converts an SDK error of `operation` on `target` (e.g. `s3://bucket/key`).
/// Codes look like `S3.SlowDown`, `Glue.EntityNotFoundException`, `S3.Timeout`.
pub fn sink_error<E>(
    service: &str,
    operation: &str,
    target: &str,
    error: SdkError<E, HttpResponse>,
) -> SinkError
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
    SinkError {
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
