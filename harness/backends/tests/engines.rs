//! The backends on real engines: an ephemeral PostgreSQL cluster, Dynoxide, the
//! embedded S3 server and DynamoDB Local, each shared by the tests of this binary
//! and isolated per test by run id.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use cutover_backends::{BackendError, Engines, Plan, Sandbox, roundtrip};
use cutover_core::provision::{Engine, Provisioner};
use sqlx::Connection;
use tokio::sync::OnceCell;

static EMBEDDED: OnceCell<Engines> = OnceCell::const_new();
static DYNAMODB_LOCAL: OnceCell<Engines> = OnceCell::const_new();

async fn embedded() -> &'static Engines {
    EMBEDDED
        .get_or_init(|| async {
            Engines::start(&Plan::embedded())
                .await
                .expect("embedded engines start")
        })
        .await
}

async fn with_dynamodb_local() -> &'static Engines {
    DYNAMODB_LOCAL
        .get_or_init(|| async {
            let plan = Plan::embedded().with(Engine::DynamoDb, Provisioner::Local);
            Engines::start(&plan)
                .await
                .expect("DynamoDB Local starts (fetched on first use)")
        })
        .await
}

async fn sandbox(engines: &Engines) -> Sandbox {
    Sandbox::open(engines, cutover_backends::new_run_id())
        .await
        .expect("sandbox opens")
}

const MULTI_MB: usize = 6 * 1024 * 1024 + 123;

#[tokio::test]
async fn embedded_engines_round_trip() {
    let engines = embedded().await;
    assert_eq!(engines.dynamodb().engine_name, "Dynoxide");
    let sandbox = sandbox(engines).await;
    let report = roundtrip::run(&sandbox, MULTI_MB)
        .await
        .expect("round trip");
    assert_eq!(report.postgres_rows, 100);
    assert!(
        report.postgres_server_version.starts_with(char::is_numeric),
        "{}",
        report.postgres_server_version
    );
    assert_eq!(report.dynamodb_items_queried, 5);
    assert_eq!(report.s3_object_bytes, MULTI_MB);
    assert_eq!(report.s3_object_sha256.len(), 64);
    sandbox.close().await.expect("cleanup");
}

#[tokio::test]
async fn dynamodb_local_round_trip_reports_capacity() {
    let engines = with_dynamodb_local().await;
    assert_eq!(engines.dynamodb().engine_name, "DynamoDB Local");
    let sandbox = sandbox(engines).await;
    let report = roundtrip::run(&sandbox, 1024 * 1024)
        .await
        .expect("round trip");
    assert_eq!(report.dynamodb_items_queried, 5);
    // Five small items read strongly consistent: well under 4 KB, so 1 RCU.
    assert_eq!(report.dynamodb_query_rcu_reported, Some(1.0));
    sandbox.close().await.expect("cleanup");
}

async fn create_table(sandbox: &Sandbox, purpose: &str) -> String {
    let table = sandbox.table_name(purpose);
    sandbox
        .dynamodb
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create table");
    table
}

async fn table_names(sandbox: &Sandbox) -> Vec<String> {
    sandbox
        .dynamodb
        .list_tables()
        .send()
        .await
        .expect("list tables")
        .table_names()
        .to_vec()
}

async fn bucket_names(sandbox: &Sandbox) -> Vec<String> {
    let answer = sandbox
        .s3
        .list_buckets()
        .send()
        .await
        .expect("list buckets");
    answer
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn sandboxes_on_one_engine_do_not_see_each_other() {
    let engines = embedded().await;
    let (first, second) = tokio::join!(sandbox(engines), sandbox(engines));
    assert_ne!(first.pg_url, second.pg_url);

    for (sandbox, marker) in [(&first, "first"), (&second, "second")] {
        sqlx::query("CREATE TABLE marker (value TEXT)")
            .execute(&sandbox.pg)
            .await
            .unwrap();
        sqlx::query("INSERT INTO marker VALUES ($1)")
            .bind(marker)
            .execute(&sandbox.pg)
            .await
            .unwrap();
        create_table(sandbox, "app").await;
        sandbox
            .s3
            .create_bucket()
            .bucket(sandbox.bucket_name("app"))
            .send()
            .await
            .unwrap();
    }
    for (sandbox, marker) in [(&first, "first"), (&second, "second")] {
        let values: Vec<String> = sqlx::query_scalar("SELECT value FROM marker")
            .fetch_all(&sandbox.pg)
            .await
            .unwrap();
        assert_eq!(values, vec![marker.to_owned()]);
    }
    assert_ne!(first.table_name("app"), second.table_name("app"));
    assert_ne!(first.bucket_name("app"), second.bucket_name("app"));
    let tables = table_names(&first).await;
    assert!(
        tables.contains(&first.table_name("app")) && tables.contains(&second.table_name("app"))
    );

    // Closing one removes its own resources and leaves the other's intact.
    let first_table = first.table_name("app");
    let report = first.close().await.unwrap();
    assert_eq!(report.tables_deleted, vec![first_table]);
    let tables = table_names(&second).await;
    assert!(tables.contains(&second.table_name("app")));
    assert!(
        bucket_names(&second)
            .await
            .contains(&second.bucket_name("app"))
    );
    let values: Vec<String> = sqlx::query_scalar("SELECT value FROM marker")
        .fetch_all(&second.pg)
        .await
        .unwrap();
    assert_eq!(values, vec!["second".to_owned()]);
    second.close().await.unwrap();
}

async fn database_exists(engines: &Engines, database: &str) -> bool {
    let mut admin = sqlx::PgConnection::connect(&engines.postgres().admin_url)
        .await
        .unwrap();
    sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(database)
        .fetch_one(&mut admin)
        .await
        .unwrap()
}

async fn fill_sandbox(sandbox: &Sandbox) {
    sqlx::query("CREATE TABLE t (id INT)")
        .execute(&sandbox.pg)
        .await
        .unwrap();
    create_table(sandbox, "app").await;
    create_table(sandbox, "search").await;
    let bucket = sandbox.bucket_name("transcripts");
    sandbox
        .s3
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    for i in 0..3 {
        sandbox
            .s3
            .put_object()
            .bucket(&bucket)
            .key(format!("t/{i}"))
            .body(vec![7u8; 1000].into())
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn closing_a_sandbox_removes_everything_it_created() {
    let engines = embedded().await;
    let observer = sandbox(engines).await;
    let sandbox = sandbox(engines).await;
    let database = sandbox.run_id.postgres_database();
    fill_sandbox(&sandbox).await;
    let (app, search, bucket) = (
        sandbox.table_name("app"),
        sandbox.table_name("search"),
        sandbox.bucket_name("transcripts"),
    );

    let mut report = sandbox.close().await.expect("cleanup");
    report.tables_deleted.sort();
    assert!(report.database_dropped);
    assert_eq!(report.tables_deleted, vec![app.clone(), search.clone()]);
    assert_eq!(report.buckets_deleted, vec![bucket.clone()]);
    assert_eq!(report.objects_deleted, 3);

    assert!(!database_exists(engines, &database).await);
    let tables = table_names(&observer).await;
    assert!(!tables.contains(&app) && !tables.contains(&search));
    assert!(!bucket_names(&observer).await.contains(&bucket));
    observer.close().await.unwrap();
}

/// A run id that already names resources is refused, so a second run cannot
/// share (and at its end delete) a first run's; reopened on purpose, a run
/// deletes only what it created itself.
#[tokio::test]
async fn a_second_run_with_the_same_id_is_refused_and_a_reopened_one_removes_only_its_own() {
    let engines = embedded().await;
    let run_id = cutover_backends::new_run_id();
    let first = Sandbox::open(engines, run_id.clone()).await.unwrap();
    fill_sandbox(&first).await;
    let database = run_id.postgres_database();

    let refused = Sandbox::open(engines, run_id.clone())
        .await
        .err()
        .expect("refused");
    let message = refused.to_string();
    assert!(
        matches!(refused, BackendError::RunExists { .. }),
        "{message}"
    );
    for named in [
        format!("database {database}"),
        format!("table {}", first.table_name("app")),
        format!("bucket {}", first.bucket_name("transcripts")),
    ] {
        assert!(message.contains(&named), "{message}");
    }
    assert!(message.contains("--reopen"), "{message}");

    let second = Sandbox::open_with(engines, run_id.clone(), cutover_backends::Reopen::Yes)
        .await
        .unwrap();
    let own = create_table(&second, "second").await;
    let report = second.close().await.unwrap();
    assert_eq!(report.tables_deleted, vec![own]);
    assert!(
        report.buckets_deleted.is_empty() && !report.database_dropped,
        "{report:?}"
    );
    // The first run's database, tables, bucket and objects are all still there.
    assert!(database_exists(engines, &database).await);
    assert!(table_names(&first).await.contains(&first.table_name("app")));
    assert!(
        bucket_names(&first)
            .await
            .contains(&first.bucket_name("transcripts"))
    );
    let report = first.close().await.unwrap();
    assert!(
        report.database_dropped && report.objects_deleted == 3,
        "{report:?}"
    );
}

/// The ephemeral cluster asks every connection for its superuser's random
/// password: another local user cannot connect as superuser over TCP.
#[tokio::test]
async fn the_ephemeral_cluster_requires_its_password() {
    let engines = embedded().await;
    let admin_url = engines.postgres().admin_url.clone();
    let (scheme_user, rest) = admin_url.split_once('@').expect("a URL with a host");
    let (user, password) = scheme_user.rsplit_once(':').expect("a password in the URL");
    assert_eq!(password.len(), 32, "128 random bits in hex");
    let without = format!("{user}@{rest}");
    let refused = sqlx::PgConnection::connect(&without)
        .await
        .expect_err("refused without a password");
    assert!(refused.to_string().contains("password"), "{refused}");
    let wrong = format!("{user}:not-the-password@{rest}");
    assert!(sqlx::PgConnection::connect(&wrong).await.is_err());
    sqlx::PgConnection::connect(&admin_url)
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
}

#[tokio::test]
async fn dropping_a_sandbox_cleans_up_too() {
    let engines = embedded().await;
    let observer = sandbox(engines).await;
    let sandbox = sandbox(engines).await;
    let database = sandbox.run_id.postgres_database();
    fill_sandbox(&sandbox).await;
    let table = sandbox.table_name("app");
    let bucket = sandbox.bucket_name("transcripts");
    drop(sandbox);
    assert!(!database_exists(engines, &database).await);
    assert!(!table_names(&observer).await.contains(&table));
    assert!(!bucket_names(&observer).await.contains(&bucket));
    observer.close().await.unwrap();
}

/// A plan that attaches to `running` through the endpoint provisioner, as
/// to a CI service or another process's engines.
fn endpoints_of(running: &Engines) -> Plan {
    let mut plan = Plan::embedded()
        .with(Engine::Postgres, Provisioner::Endpoint)
        .with(Engine::DynamoDb, Provisioner::Endpoint)
        .with(Engine::S3, Provisioner::Endpoint);
    plan.settings.postgres.endpoint = Some(running.postgres().admin_url.clone());
    plan.settings.dynamodb.endpoint = running.dynamodb().endpoint.url.clone();
    plan.settings.s3.endpoint = running.s3().endpoint.url.clone();
    plan
}

#[tokio::test]
async fn endpoint_provisioner_uses_engines_that_already_run() {
    let plan = endpoints_of(embedded().await);

    let attached = Engines::start(&plan).await.expect("endpoint engines");
    assert_eq!(attached.provisioner(Engine::S3), Provisioner::Endpoint);
    let sandbox = sandbox(&attached).await;
    let report = roundtrip::run(&sandbox, 2 * 1024 * 1024)
        .await
        .expect("round trip through endpoints");
    assert_eq!(report.dynamodb_items_queried, 5);
    sandbox.close().await.unwrap();
    attached.shutdown().await;

    // Dropping an endpoint handle leaves the engines it attached to running.
    let after = sandbox_on_running().await;
    roundtrip::run(&after, 1024)
        .await
        .expect("engines still answer");
    after.close().await.unwrap();
}

/// Engines any process can reach (a CI service, real AWS): two processes
/// that both use one run id (the second with --reopen) each delete only what
/// they claimed and still own; a run-named table nobody here claimed is left.
#[tokio::test]
async fn on_shared_endpoints_a_run_deletes_only_what_it_claimed_and_still_owns() {
    let plan = endpoints_of(embedded().await);
    let attached = Engines::start(&plan).await.expect("endpoint engines");

    let run_id = cutover_backends::new_run_id();
    let first = Sandbox::open(&attached, run_id.clone()).await.unwrap();
    let first_table = create_table(&first, "first").await;
    first.claim_table(&first_table).await.unwrap();
    let first_bucket = first.bucket_name("first");
    first
        .s3
        .create_bucket()
        .bucket(&first_bucket)
        .send()
        .await
        .unwrap();
    first.claim_bucket(&first_bucket).await.unwrap();

    // A second process joins the run after the first opened it.
    let second = Sandbox::open_with(&attached, run_id.clone(), cutover_backends::Reopen::Yes)
        .await
        .unwrap();
    let second_table = create_table(&second, "second").await;
    second.claim_table(&second_table).await.unwrap();
    let second_bucket = second.bucket_name("second");
    second
        .s3
        .create_bucket()
        .bucket(&second_bucket)
        .send()
        .await
        .unwrap();
    second.claim_bucket(&second_bucket).await.unwrap();
    // Someone else's table under the run's name, claimed by nobody here.
    let stray = create_table(&second, "stray").await;
    // A table the first claimed, deleted and created again by the second: the
    // first's record says "mine", its owner tag says otherwise, and the tag wins.
    let recreated = create_table(&first, "recreated").await;
    first.claim_table(&recreated).await.unwrap();
    second
        .dynamodb
        .delete_table()
        .table_name(&recreated)
        .send()
        .await
        .unwrap();
    assert_eq!(create_table(&second, "recreated").await, recreated);
    second.claim_table(&recreated).await.unwrap();
    // A claim with a name that is not the run's is refused.
    assert!(first.claim_table("someone-elses-table").await.is_err());

    let report = first.close().await.unwrap();
    assert_eq!(
        report.tables_deleted,
        vec![first_table.clone()],
        "{report:?}"
    );
    assert_eq!(
        report.buckets_deleted,
        vec![first_bucket.clone()],
        "{report:?}"
    );
    let mut left = report.left_to_their_owner.clone();
    left.sort();
    let mut expected = vec![
        second_table.clone(),
        stray.clone(),
        recreated.clone(),
        second_bucket.clone(),
    ];
    expected.sort();
    assert_eq!(left, expected, "{report:?}");
    let tables = table_names(&second).await;
    assert!(tables.contains(&second_table) && tables.contains(&stray));
    assert!(!tables.contains(&first_table));
    assert!(bucket_names(&second).await.contains(&second_bucket));

    let report = second.close().await.unwrap();
    let mut deleted = report.tables_deleted.clone();
    deleted.sort();
    let mut expected = vec![second_table.clone(), recreated.clone()];
    expected.sort();
    assert_eq!(deleted, expected, "{report:?}");
    assert_eq!(report.buckets_deleted, vec![second_bucket], "{report:?}");
    assert_eq!(
        report.left_to_their_owner,
        vec![stray.clone()],
        "{report:?}"
    );

    // The stray table goes with whoever owns it: here, the test.
    let observer = sandbox_on_running().await;
    observer
        .dynamodb
        .delete_table()
        .table_name(&stray)
        .send()
        .await
        .unwrap();
    observer.close().await.unwrap();
    attached.shutdown().await;
}

async fn sandbox_on_running() -> Sandbox {
    sandbox(embedded().await).await
}

#[tokio::test]
async fn a_second_set_of_engines_runs_beside_the_first_and_stops_when_dropped() {
    let first = embedded().await;
    let second = Engines::start(&Plan::embedded())
        .await
        .expect("second engines");
    assert_ne!(first.postgres().admin_url, second.postgres().admin_url);
    assert_ne!(
        first.dynamodb().endpoint.url,
        second.dynamodb().endpoint.url
    );

    // The same run id on two engine sets: as two test suites on one machine would.
    let run = cutover_backends::new_run_id();
    let (a, b) = tokio::join!(
        Sandbox::open(first, run.clone()),
        Sandbox::open(&second, run.clone())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let (ra, rb) = tokio::join!(
        roundtrip::run(&a, 1024 * 1024),
        roundtrip::run(&b, 1024 * 1024)
    );
    ra.expect("first");
    rb.expect("second");
    a.close().await.unwrap();
    b.close().await.unwrap();

    let (data_dir, pid) = second
        .postgres()
        .ephemeral_details()
        .expect("embedded postgres");
    let ddb_address = second
        .dynamodb()
        .endpoint
        .url
        .clone()
        .unwrap()
        .replace("http://", "");
    let s3_address = second
        .s3()
        .endpoint
        .url
        .clone()
        .unwrap()
        .replace("http://", "");
    assert!(data_dir.is_dir());
    second.shutdown().await;

    assert!(
        !data_dir.exists(),
        "scratch directory {} left behind",
        data_dir.display()
    );
    // SAFETY: existence probe only.
    assert_ne!(
        unsafe { libc::kill(pid as i32, 0) },
        0,
        "postgres {pid} still running"
    );
    for address in [ddb_address, s3_address] {
        let refused = tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect(&address),
        )
        .await;
        assert!(
            !matches!(refused, Ok(Ok(_))),
            "{address} still accepts connections"
        );
    }
}

#[tokio::test]
async fn containers_run_where_docker_answers() {
    if let Err(why) = cutover_backends::docker::probe() {
        eprintln!("SKIPPED containers_run_where_docker_answers: {why}");
        return;
    }
    let plan = Plan::embedded()
        .with(Engine::Postgres, Provisioner::Containers)
        .with(Engine::DynamoDb, Provisioner::Containers)
        .with(Engine::S3, Provisioner::Containers);
    let engines = Engines::start(&plan).await.expect("containers start");
    let sandbox = sandbox(&engines).await;
    roundtrip::run(&sandbox, 1024 * 1024)
        .await
        .expect("round trip on containers");
    sandbox.close().await.unwrap();
    engines.shutdown().await;
}

#[tokio::test]
async fn missing_prerequisites_name_what_and_how() {
    let mut plan = Plan::embedded();
    plan.settings.postgres.dir = Some("/nonexistent/pg/bin".into());
    plan.settings.dynamodb.dir = Some("/nonexistent/ddb".into());
    plan.dynamodb = Provisioner::Local;
    let error = Engines::start(&plan).await.err().expect("must fail");
    let message = error.to_string();
    assert!(
        matches!(error, BackendError::Several(ref errors) if errors.len() == 2),
        "{message}"
    );
    assert!(message.contains("/nonexistent/pg/bin"), "{message}");
    assert!(message.contains("apt-get install postgresql"), "{message}");
    assert!(message.contains("/nonexistent/ddb"), "{message}");
    assert!(message.contains("CUTOVER_DYNAMODB_LOCAL_DIR"), "{message}");

    let mut plan = Plan::embedded().with(Engine::Postgres, Provisioner::Endpoint);
    plan.settings.postgres.endpoint = None;
    let message = Engines::start(&plan)
        .await
        .err()
        .expect("must fail")
        .to_string();
    assert!(message.contains("CUTOVER_PG_URL"), "{message}");
}

/// This machine's address on a non-loopback interface, if it has one: the
/// source address of a route towards a documentation address (no packet is sent).
fn non_loopback_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let address = socket.local_addr().ok()?.ip();
    (!address.is_loopback()).then_some(address)
}

/// DynamoDB Local has no bind-address option; where cutover can give it a
/// private network (root) it is reachable on loopback only, never from
/// another interface of this machine.
#[tokio::test]
async fn dynamodb_local_is_reachable_on_loopback_only() {
    let Some(address) = non_loopback_address() else {
        eprintln!("skipping: this machine has no non-loopback interface to try from");
        return;
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: not root, so DynamoDB Local runs without a private network");
        return;
    }
    let engines = with_dynamodb_local().await;
    let url = engines.dynamodb().endpoint.url.clone().unwrap();
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "{url} answers on loopback"
    );
    assert!(
        std::net::TcpStream::connect((address, port)).is_err(),
        "DynamoDB Local answers on {address}:{port}"
    );
    let sandbox = sandbox(engines).await;
    roundtrip::run(&sandbox, 1024)
        .await
        .expect("a round trip through the bridge");
    sandbox.close().await.unwrap();
}
