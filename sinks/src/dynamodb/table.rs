//! Optional table creation for development: an on-demand table with the configured key
//! schema, created if missing and waited for until ACTIVE.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType as DynamoKeyType,
    ScalarAttributeType, TableStatus,
};
use aws_sdk_dynamodb::Client;

use crate::aws::{service_error, ServiceError};

/// The type of a key attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    String,
    Number,
}

impl KeyType {
    fn scalar(self) -> ScalarAttributeType {
        match self {
            KeyType::String => ScalarAttributeType::S,
            KeyType::Number => ScalarAttributeType::N,
        }
    }
}

/// Creates `table` (on-demand) with `partition_key` and optional `sort_key` if it does not
/// exist, and waits until it is ACTIVE.
pub async fn ensure_table(
    client: &Client,
    table: &str,
    partition_key: (&str, KeyType),
    sort_key: Option<(&str, KeyType)>,
) -> Result<(), ServiceError> {
    match client.describe_table().table_name(table).send().await {
        Ok(_) => return wait_active(client, table).await,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) => {}
        Err(e) => return Err(service_error("DynamoDB", "DescribeTable", table, e)),
    }
    let bad = |e: aws_sdk_dynamodb::error::BuildError| {
        ServiceError::permanent("DynamoDB.BadRequest", e.to_string())
    };
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest);
    for (name, kind, role) in [
        Some((partition_key.0, partition_key.1, DynamoKeyType::Hash)),
        sort_key.map(|(n, k)| (n, k, DynamoKeyType::Range)),
    ]
    .into_iter()
    .flatten()
    {
        request = request
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(kind.scalar())
                    .build()
                    .map_err(bad)?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(name)
                    .key_type(role)
                    .build()
                    .map_err(bad)?,
            );
    }
    match request.send().await {
        Ok(_) => tracing::info!(table, "created the DynamoDB table (on-demand)"),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) => {}
        Err(e) => return Err(service_error("DynamoDB", "CreateTable", table, e)),
    }
    wait_active(client, table).await
}

async fn wait_active(client: &Client, table: &str) -> Result<(), ServiceError> {
    for _ in 0..600 {
        let description = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| service_error("DynamoDB", "DescribeTable", table, e))?;
        if description.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(ServiceError::retryable(
        "DynamoDB.NotActive",
        format!("table {table} did not become ACTIVE within 60 s"),
    ))
}
