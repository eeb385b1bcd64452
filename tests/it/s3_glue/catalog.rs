//! The Glue catalog: an inferred schema grows the table's columns and dead-letters type
//! conflicts; a schema read from an existing Glue table.

use std::path::Path;

use super::*;

fn catalog_config(
    dir: &Path,
    input: &Path,
    bucket: &str,
    database: &str,
    schema: &str,
) -> std::path::PathBuf {
    let path = dir.join("catalog.toml");
    let text = format!(
        r#"
name = "evolve"
[source]
type = "file"
path = {input:?}
checkpoint_file = "{dir}/checkpoint.json"
[destination]
type = "s3"
bucket = "{bucket}"
prefix = "t/dt=!{{timestamp:yyyy-MM-dd}}/"
[destination.format]
type = "parquet"
{schema}
[destination.catalog]
database = "{database}"
table = "t"
"#,
        dir = dir.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

async fn glue_columns(glue: &aws_sdk_glue::Client, database: &str, table: &str) -> Vec<String> {
    let table = glue
        .get_table()
        .database_name(database)
        .name(table)
        .send()
        .await
        .unwrap();
    let sd = table.table().unwrap().storage_descriptor().unwrap();
    sd.columns()
        .iter()
        .map(|c| format!("{}:{}", c.name(), c.r#type().unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn inferred_schema_adds_new_columns_to_the_glue_table_and_dead_letters_type_conflicts() {
    let moto = moto_url();
    let (s3, glue) = (s3(&moto).await, glue(&moto).await);
    let bucket = unique_name("spillway-evolve");
    let database = unique_name("evolve").replace('-', "_");
    create_bucket(&s3, &bucket).await;
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in");
    std::fs::create_dir_all(&inputs).unwrap();
    std::fs::write(
        inputs.join("1.ndjson"),
        "{\"id\":1,\"name\":\"a\"}\n{\"id\":2,\"name\":\"b\"}\n",
    )
    .unwrap();
    let config = catalog_config(dir.path(), &inputs, &bucket, &database, "");
    let run = |config: &Path| {
        let mut cmd = spillway();
        cmd.args(["run", "--config"]).arg(config);
        aws_env(&mut cmd, &moto);
        run_ok(&mut cmd)
    };
    run(&config);
    assert_eq!(
        glue_columns(&glue, &database, "t").await,
        ["id:bigint", "name:string"]
    );

    // A second file brings a new field, and one record whose id is not a number.
    std::fs::write(
        inputs.join("2.ndjson"),
        "{\"id\":3,\"name\":\"c\",\"score\":0.5}\n{\"id\":\"four\",\"name\":\"d\",\"score\":1.5}\n",
    )
    .unwrap();
    let out = run(&config);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("delivered 1 "),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        glue_columns(&glue, &database, "t").await,
        ["id:bigint", "name:string", "score:double"]
    );
    let errors = list_keys(&s3, &bucket, "errors/format-conversion-failed/").await;
    assert_eq!(errors.len(), 1);
    let record: Value =
        serde_json::from_slice(&get_object(&s3, &bucket, &errors[0]).await).unwrap();
    // Firehose's format-conversion error record: lastErrorCode and the catalog table.
    assert_eq!(record["lastErrorCode"], "Format.SchemaMismatch");
    assert_eq!(
        record["dataCatalogTable"]["databaseName"],
        database.as_str()
    );
    let parsed: spillway_sinks::dead_letter::ErrorRecord =
        serde_json::from_value(record.clone()).unwrap();
    let raw = String::from_utf8(parsed.raw_bytes().unwrap()).unwrap();
    assert!(raw.contains("\"four\""), "{record}: {raw}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_schema_can_come_from_an_existing_glue_table() {
    use aws_sdk_glue::types::{Column, DatabaseInput, StorageDescriptor, TableInput};
    let moto = moto_url();
    let (s3, glue) = (s3(&moto).await, glue(&moto).await);
    let bucket = unique_name("spillway-gluetable");
    let database = unique_name("given").replace('-', "_");
    create_bucket(&s3, &bucket).await;
    glue.create_database()
        .database_input(DatabaseInput::builder().name(&database).build().unwrap())
        .send()
        .await
        .unwrap();
    let column = |n: &str, t: &str| Column::builder().name(n).r#type(t).build().unwrap();
    let sd = StorageDescriptor::builder()
        .columns(column("event_id", "string"))
        .columns(column("ts", "timestamp"))
        .columns(column("geo", "struct<country:string>"))
        .build();
    let input = TableInput::builder()
        .name("clicks")
        .storage_descriptor(sd)
        .build()
        .unwrap();
    glue.create_table()
        .database_name(&database)
        .table_input(input)
        .send()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let schema = format!("schema = {{ glue_table = \"{database}.clicks\" }}");
    let events = repo_root().join("examples/clickstream/events.ndjson.gz");
    let config = catalog_config(dir.path(), &events, &bucket, &database, &schema);
    let mut cmd = spillway();
    cmd.args(["run", "--config"]).arg(&config);
    aws_env(&mut cmd, &moto);
    run_ok(&mut cmd);

    let local = tempfile::tempdir().unwrap();
    download(&s3, &bucket, "t/", local.path()).await;
    let mut rows = 0;
    for file in files_under(local.path(), ".parquet") {
        let batches = read_parquet(&file);
        let names: Vec<String> = batches[0]
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["event_id", "ts", "geo"]);
        rows += batches.iter().map(|b| b.num_rows()).sum::<usize>();
    }
    assert_eq!(rows, 5000);
}
