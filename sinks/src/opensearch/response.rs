//! The retry decision for a `_bulk` response, as a pure function of its body: which items
//! are delivered, which are worth retrying (429, 5xx, `es_rejected_execution_exception`) and
//! which go to the dead letter at once (other 4xx: mapping errors, illegal arguments). A 409
//! on `create` means the document exists: delivered. A body that is not a bulk response is an
//! error the caller retries as a whole request.

use serde_json::Value;

/// Whether the bulk used `index` (overwrite) or `create` (409 if the id exists).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Index,
    Create,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Index => "index",
            Action::Create => "create",
        }
    }
}

/// What happened to one document of a bulk request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ItemOutcome {
    Delivered,
    Retry {
        status: u16,
        error_type: String,
        reason: String,
    },
    Failed {
        status: u16,
        error_type: String,
        reason: String,
    },
}

/// A bulk answer that is not one.
#[derive(Debug, thiserror::Error)]
pub enum BadResponse {
    #[error("bulk response is not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("bulk response has no items")]
    NoItems,
    #[error("bulk response answers {answered} items, the request had {expected}")]
    WrongCount { answered: usize, expected: usize },
    #[error("bulk item has no result")]
    NoResult,
    #[error("bulk item has no status")]
    NoStatus,
}

/// Classifies every item of a bulk response; `Err` when the body is not one (or does not
/// answer `expected` items).
pub fn classify(
    body: &[u8],
    action: Action,
    expected: usize,
) -> Result<Vec<ItemOutcome>, BadResponse> {
    let response: Value = serde_json::from_slice(body).map_err(BadResponse::NotJson)?;
    let items = response["items"].as_array().ok_or(BadResponse::NoItems)?;
    if items.len() != expected {
        return Err(BadResponse::WrongCount {
            answered: items.len(),
            expected,
        });
    }
    items
        .iter()
        .map(|item| {
            let result = item
                .get(action.as_str())
                .or_else(|| item.as_object().and_then(|o| o.values().next()));
            let result = result.ok_or(BadResponse::NoResult)?;
            let status = result["status"].as_u64().ok_or(BadResponse::NoStatus)? as u16;
            let error_type = result["error"]["type"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let reason = result["error"]["reason"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            Ok(match status {
                200..=299 => ItemOutcome::Delivered,
                409 if action == Action::Create => ItemOutcome::Delivered,
                429 | 500..=599 => ItemOutcome::Retry {
                    status,
                    error_type,
                    reason,
                },
                _ if error_type == "es_rejected_execution_exception" => ItemOutcome::Retry {
                    status,
                    error_type,
                    reason,
                },
                _ => ItemOutcome::Failed {
                    status,
                    error_type,
                    reason,
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_ok() {
        let body = br#"{"took":3,"errors":false,"items":[{"index":{"_index":"i","_id":"1","status":201}},{"index":{"_index":"i","_id":"2","status":200}}]}"#;
        assert_eq!(
            classify(body, Action::Index, 2).unwrap(),
            vec![ItemOutcome::Delivered, ItemOutcome::Delivered]
        );
    }

    #[test]
    fn mixed_200_400_429_503_and_rejected_execution() {
        let body = br#"{"took":9,"errors":true,"items":[
            {"index":{"_index":"i","_id":"1","status":201}},
            {"index":{"_index":"i","_id":"2","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [latency_ms] of type [long]"}}},
            {"index":{"_index":"i","_id":"3","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution"}}},
            {"index":{"_index":"i","_id":"4","status":503,"error":{"type":"unavailable_shards_exception","reason":"primary shard is not active"}}},
            {"index":{"_index":"i","_id":"5","status":400,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}}
        ]}"#;
        let outcomes = classify(body, Action::Index, 5).unwrap();
        assert_eq!(outcomes[0], ItemOutcome::Delivered);
        assert_eq!(
            outcomes[1],
            ItemOutcome::Failed {
                status: 400,
                error_type: "mapper_parsing_exception".into(),
                reason: "failed to parse field [latency_ms] of type [long]".into()
            }
        );
        assert!(matches!(
            &outcomes[2],
            ItemOutcome::Retry { status: 429, .. }
        ));
        assert!(matches!(
            &outcomes[3],
            ItemOutcome::Retry { status: 503, .. }
        ));
        assert!(matches!(
            &outcomes[4],
            ItemOutcome::Retry { status: 400, .. }
        ));
    }

    #[test]
    fn conflict_on_create_is_delivered_but_not_on_index() {
        let body = br#"{"errors":true,"items":[{"create":{"_index":"i","_id":"1","status":409,"error":{"type":"version_conflict_engine_exception","reason":"document already exists"}}}]}"#;
        assert_eq!(
            classify(body, Action::Create, 1).unwrap(),
            vec![ItemOutcome::Delivered]
        );
        let body = br#"{"errors":true,"items":[{"index":{"_index":"i","_id":"1","status":409,"error":{"type":"version_conflict_engine_exception","reason":"x"}}}]}"#;
        assert!(matches!(
            classify(body, Action::Index, 1).unwrap()[0],
            ItemOutcome::Failed { status: 409, .. }
        ));
    }

    #[test]
    fn malformed_responses_are_errors() {
        assert!(matches!(
            classify(b"<html>bad gateway</html>", Action::Index, 1),
            Err(BadResponse::NotJson(_))
        ));
        assert!(matches!(
            classify(br#"{"errors":false}"#, Action::Index, 1),
            Err(BadResponse::NoItems)
        ));
        let short = br#"{"errors":false,"items":[{"index":{"status":201}}]}"#;
        let error = classify(short, Action::Index, 2).unwrap_err();
        assert!(matches!(
            error,
            BadResponse::WrongCount {
                answered: 1,
                expected: 2
            }
        ));
        assert_eq!(
            error.to_string(),
            "bulk response answers 1 items, the request had 2"
        );
    }
}
