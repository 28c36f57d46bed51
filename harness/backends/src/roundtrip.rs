//! A real write-then-read on each engine of a sandbox: the smallest proof that
//! the engines answer and keep what they are given. `cutover check` runs it, and
//! so do the backend tests.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ReturnConsumedCapacity, ScalarAttributeType,
};
use aws_sdk_s3::primitives::ByteStream;
use cutover_core::provision::Engine;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

use crate::error::{BackendError, error_chain};
use crate::sandbox::Sandbox;

const ROUNDTRIP_PURPOSE: &str = "roundtrip";

#[derive(Debug, Clone)]
pub struct RoundTripReport {
    pub postgres_server_version: String,
    pub postgres_rows: usize,
    pub dynamodb_table: String,
    pub dynamodb_items_queried: usize,
    /// ConsumedCapacity of the Query as the engine reported it (`None`: not reported).
    pub dynamodb_query_rcu_reported: Option<f64>,
    pub s3_bucket: String,
    pub s3_object_bytes: usize,
    pub s3_object_sha256: String,
    pub elapsed: Duration,
}

fn broken(engine: Engine, action: &str, detail: impl std::fmt::Display) -> BackendError {
    BackendError::operation(engine, action, detail)
}

/// Writes and reads back on all three engines; `s3_object_bytes` sets the size of
/// the object (use several MB to exercise the S3 server for real).
pub async fn run(
    sandbox: &Sandbox,
    s3_object_bytes: usize,
) -> Result<RoundTripReport, BackendError> {
    let began = Instant::now();
    let (postgres, dynamodb, s3) = tokio::join!(
        postgres_roundtrip(sandbox),
        dynamodb_roundtrip(sandbox),
        s3_roundtrip(sandbox, s3_object_bytes)
    );
    let mut errors = Vec::new();
    let postgres = postgres.map_err(|e| errors.push(e)).ok();
    let dynamodb = dynamodb.map_err(|e| errors.push(e)).ok();
    let s3 = s3.map_err(|e| errors.push(e)).ok();
    match (postgres, dynamodb, s3) {
        (
            Some((postgres_server_version, postgres_rows)),
            Some((dynamodb_table, items, rcu)),
            Some((s3_bucket, sha)),
        ) => Ok(RoundTripReport {
            postgres_server_version,
            postgres_rows,
            dynamodb_table,
            dynamodb_items_queried: items,
            dynamodb_query_rcu_reported: rcu,
            s3_bucket,
            s3_object_bytes,
            s3_object_sha256: sha,
            elapsed: began.elapsed(),
        }),
        _ => Err(BackendError::several(errors)),
    }
}

async fn postgres_roundtrip(sandbox: &Sandbox) -> Result<(String, usize), BackendError> {
    let fail = |action: &str, err: sqlx::Error| broken(Engine::Postgres, action, err);
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&sandbox.pg)
        .await
        .map_err(|e| fail("reading server_version", e))?;
    sqlx::query(
        "CREATE TABLE roundtrip (id BIGINT PRIMARY KEY, body TEXT NOT NULL, meta JSONB NOT NULL)",
    )
    .execute(&sandbox.pg)
    .await
    .map_err(|e| fail("creating table roundtrip", e))?;
    let rows: Vec<(i64, String)> = (0..100)
        .map(|i| (i, format!("row {i} — ünïcode ✓")))
        .collect();
    for (id, body) in &rows {
        sqlx::query(
            "INSERT INTO roundtrip (id, body, meta) VALUES ($1, $2, jsonb_build_object('n', $1))",
        )
        .bind(id)
        .bind(body)
        .execute(&sandbox.pg)
        .await
        .map_err(|e| fail("inserting into roundtrip", e))?;
    }
    let read: Vec<(i64, String)> = sqlx::query_as("SELECT id, body FROM roundtrip ORDER BY id")
        .fetch_all(&sandbox.pg)
        .await
        .map_err(|e| fail("reading roundtrip", e))?;
    if read != rows {
        return Err(broken(
            Engine::Postgres,
            "reading back roundtrip",
            "rows differ from those written",
        ));
    }
    Ok((version, read.len()))
}

async fn dynamodb_roundtrip(
    sandbox: &Sandbox,
) -> Result<(String, usize, Option<f64>), BackendError> {
    let fail = |action: &str, err: &dyn std::error::Error| {
        broken(Engine::DynamoDb, action, error_chain(err))
    };
    let table = sandbox.table_name(ROUNDTRIP_PURPOSE);
    let client = &sandbox.dynamodb;
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
    };
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    client
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash).map_err(|e| fail("building key schema", &e))?)
        .key_schema(key("sk", KeyType::Range).map_err(|e| fail("building key schema", &e))?)
        .attribute_definitions(attribute("pk").map_err(|e| fail("building attributes", &e))?)
        .attribute_definitions(attribute("sk").map_err(|e| fail("building attributes", &e))?)
        .send()
        .await
        .map_err(|e| fail(&format!("creating table {table}"), &e))?;
    sandbox.claim_table(&table).await?;
    let written: Vec<HashMap<String, AttributeValue>> = (0..5)
        .map(|i| {
            HashMap::from([
                (
                    "pk".to_owned(),
                    AttributeValue::S("RT#roundtrip".to_owned()),
                ),
                ("sk".to_owned(), AttributeValue::S(format!("ITEM#{i:03}"))),
                (
                    "name".to_owned(),
                    AttributeValue::S(format!("séance {i} 🐉")),
                ),
                ("n".to_owned(), AttributeValue::N(i.to_string())),
            ])
        })
        .collect();
    for item in &written {
        client
            .put_item()
            .table_name(&table)
            .set_item(Some(item.clone()))
            .send()
            .await
            .map_err(|e| fail("putting an item", &e))?;
    }
    let answer = client
        .query()
        .table_name(&table)
        .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
        .expression_attribute_values(":pk", AttributeValue::S("RT#roundtrip".to_owned()))
        .expression_attribute_values(":prefix", AttributeValue::S("ITEM#".to_owned()))
        .consistent_read(true)
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .map_err(|e| fail("querying", &e))?;
    if answer.items() != written.as_slice() {
        return Err(broken(
            Engine::DynamoDb,
            "reading back by Query",
            format!("wrote {} items, read {:?}", written.len(), answer.items()),
        ));
    }
    let rcu = answer.consumed_capacity().and_then(|c| c.capacity_units());
    Ok((table, answer.items().len(), rcu))
}

async fn s3_roundtrip(
    sandbox: &Sandbox,
    object_bytes: usize,
) -> Result<(String, String), BackendError> {
    let fail =
        |action: &str, err: &dyn std::error::Error| broken(Engine::S3, action, error_chain(err));
    let bucket = sandbox.bucket_name(ROUNDTRIP_PURPOSE);
    let client = &sandbox.s3;
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .map_err(|e| fail(&format!("creating bucket {bucket}"), &e))?;
    sandbox.claim_bucket(&bucket).await?;
    let mut body = vec![0u8; object_bytes];
    rand::rngs::StdRng::seed_from_u64(object_bytes as u64).fill_bytes(&mut body);
    let sha_written = hex::encode(Sha256::digest(&body));
    client
        .put_object()
        .bucket(&bucket)
        .key("roundtrip/object.bin")
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| fail("putting an object", &e))?;
    let got = client
        .get_object()
        .bucket(&bucket)
        .key("roundtrip/object.bin")
        .send()
        .await
        .map_err(|e| fail("getting the object", &e))?;
    let read = got
        .body
        .collect()
        .await
        .map_err(|e| fail("reading the object body", &e))?
        .into_bytes();
    let sha_read = hex::encode(Sha256::digest(&read));
    if read.len() != object_bytes || sha_read != sha_written {
        return Err(broken(
            Engine::S3,
            "reading back the object",
            format!(
                "wrote {object_bytes} bytes sha256 {sha_written}, read {} bytes sha256 {sha_read}",
                read.len()
            ),
        ));
    }
    Ok((bucket, sha_read))
}
