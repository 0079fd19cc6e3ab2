//! The control plane's state store against a real PostgreSQL (started on
//! loopback by `./scripts/test`, which sets `CLOUDOPTIM_POSTGRES_URL`).
//! Every test works in a database of its own.
#![cfg(feature = "runtime")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod runtime_support;

use std::time::Duration;

use cloudoptim::plan::{Action, Mode, Plan, StepOutcome};
use cloudoptim::runtime::{
    NewCluster, RunStatus, SealError, Secret, StepRecord, Store, StoreError, TokenKey,
};
use runtime_support::fresh_database;

fn key() -> TokenKey {
    TokenKey::from_hex(&"5a".repeat(32)).unwrap()
}

async fn store(url: &str) -> Store {
    let mut s = Store::connect(url, key()).await.unwrap();
    s.migrate().await.unwrap();
    s
}

fn cluster(name: &str) -> NewCluster {
    NewCluster {
        name: name.into(),
        region: "us-east-1".into(),
        api_endpoint: format!("https://{name}.example:6443"),
        ca_pem: None,
        role_arn: Some("arn:aws:iam::123456789012:role/cloudoptim".into()),
        external_id: Some("ext-42".into()),
        sqs_queue_url: None,
        node_selector: Default::default(),
        token: Secret::new(format!("token-of-{name}-do-not-leak")),
    }
}

fn three_step_plan() -> Plan {
    let mut plan = Plan::new("consolidation", "2026-12-02T12:00:00Z".parse().unwrap());
    for node in ["n1", "n2", "n3"] {
        plan.push(
            Action::Cordon { node: node.into() },
            "test",
            vec![],
            Default::default(),
        );
    }
    plan
}

#[tokio::test]
async fn migrations_apply_once_even_when_two_processes_start_together() {
    let url = fresh_database("store_migrate").await;
    let mut a = Store::connect(&url, key()).await.unwrap();
    let mut b = Store::connect(&url, key()).await.unwrap();
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    let mut applied = ra.unwrap();
    applied.extend(rb.unwrap());
    assert_eq!(applied, vec![1, 2]);
    assert!(a.migrate().await.unwrap().is_empty());
}

#[tokio::test]
async fn tokens_are_sealed_at_rest_and_never_listed() {
    let url = fresh_database("store_tokens").await;
    let s = store(&url).await;
    let prod = s.add_cluster(&cluster("prod")).await.unwrap();
    let staging = s.add_cluster(&cluster("staging")).await.unwrap();

    // What PostgreSQL holds is not the token.
    let (raw, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let sealed: Vec<u8> = raw
        .query_one(
            "SELECT token_sealed FROM clusters WHERE id = $1",
            &[&prod.0],
        )
        .await
        .unwrap()
        .get(0);
    let plain = b"token-of-prod-do-not-leak";
    assert!(!sealed.windows(plain.len()).any(|w| w == plain));
    let dump = format!("{:?}", s.clusters().await.unwrap());
    assert!(!dump.contains("do-not-leak"), "{dump}");
    assert!(dump.contains("prod") && dump.contains("ext-42"));

    // It opens with the key, for its own cluster only.
    assert_eq!(
        s.token(prod).await.unwrap().expose(),
        "token-of-prod-do-not-leak"
    );
    assert_eq!(format!("{:?}", s.token(prod).await.unwrap()), "Secret(…)");
    raw.execute(
        "UPDATE clusters SET token_sealed = $1 WHERE id = $2",
        &[&sealed, &staging.0],
    )
    .await
    .unwrap();
    assert!(matches!(
        s.token(staging).await,
        Err(StoreError::Seal(SealError::DoesNotOpen { cluster })) if cluster == "staging"
    ));
    let other_key = Store::connect(&url, TokenKey::from_hex(&"a5".repeat(32)).unwrap())
        .await
        .unwrap();
    assert!(matches!(
        other_key.token(prod).await,
        Err(StoreError::Seal(SealError::DoesNotOpen { .. }))
    ));

    // Bad input is refused, naming the field; a second "prod" too.
    assert!(matches!(
        s.add_cluster(&cluster("prod")).await,
        Err(StoreError::Duplicate(name)) if name == "prod"
    ));
    let mut bad = cluster("dev");
    bad.api_endpoint = "http://dev.example".into();
    let err = s.add_cluster(&bad).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Invalid {
                field: "api_endpoint",
                ..
            }
        ),
        "{err}"
    );
    let mut bad = cluster("dev");
    bad.name = "dev; DROP TABLE clusters".into();
    assert!(matches!(
        s.add_cluster(&bad).await,
        Err(StoreError::Invalid { field: "name", .. })
    ));
    assert_eq!(s.clusters().await.unwrap().len(), 2);
}

#[tokio::test]
async fn exactly_one_of_many_processes_gets_a_cluster() {
    let url = fresh_database("store_claims").await;
    let s = store(&url).await;
    s.add_cluster(&cluster("only")).await.unwrap();
    let mut processes = Vec::new();
    for i in 0..8 {
        let url = url.clone();
        processes.push(tokio::spawn(async move {
            let s = Store::connect(&url, key()).await.unwrap();
            s.claim(&format!("process-{i}"), Duration::from_secs(60))
                .await
                .unwrap()
        }));
    }
    let mut won = Vec::new();
    for p in processes {
        if let Some(lease) = p.await.unwrap() {
            won.push(lease);
        }
    }
    assert_eq!(won.len(), 1, "{won:?}");
    let listed = s.clusters().await.unwrap();
    assert_eq!(
        listed[0].lease_holder.as_deref(),
        Some(won[0].holder.as_str())
    );
    // A second cluster goes to the next process that asks.
    s.add_cluster(&cluster("second")).await.unwrap();
    let next = s
        .claim("late", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.cluster_name, "second");
    assert!(s
        .claim("later", Duration::from_secs(60))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_crashed_holder_is_taken_over_after_its_lease_and_fenced_out() {
    let url = fresh_database("store_takeover").await;
    let a = store(&url).await;
    let b = Store::connect(&url, key()).await.unwrap();
    let id = a.add_cluster(&cluster("prod")).await.unwrap();

    // A takes the cluster, starts a plan, does its first step, then stops
    // (a crash: no renewal, no release).
    let lease_a = a
        .claim("a", Duration::from_millis(500))
        .await
        .unwrap()
        .unwrap();
    let plan = three_step_plan();
    let run = a.start_run(&lease_a, &plan, Mode::Execute).await.unwrap();
    let done = StepOutcome::Done("cordoned n1".into());
    a.record_step(&lease_a, run, 0, Ok(&done)).await.unwrap();
    assert!(b
        .claim("b", Duration::from_secs(60))
        .await
        .unwrap()
        .is_none());

    // Once A's lease expires, B takes over with a newer epoch, finds the
    // run and what is done, and finishes only the rest.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let lease_b = b
        .claim("b", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lease_b.cluster, id);
    assert!(lease_b.epoch > lease_a.epoch);
    let unfinished = b.unfinished_run(id).await.unwrap().unwrap();
    assert_eq!(unfinished.id, run);
    assert_eq!(unfinished.plan, plan);
    assert_eq!(unfinished.mode, Mode::Execute);
    let done_steps: Vec<usize> = unfinished
        .steps
        .iter()
        .filter(|(_, r)| matches!(r, StepRecord::Outcome(StepOutcome::Done(_))))
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(done_steps, vec![0]);
    let second = StepOutcome::Done("cordoned n2".into());
    b.record_step(&lease_b, run, 1, Ok(&second)).await.unwrap();

    // A wakes up while B is still at it: every write is refused, nothing
    // of it lands (step 2 is recorded by nobody yet).
    for refused in [
        a.record_step(&lease_a, run, 2, Err("late")).await,
        a.renew(&lease_a, Duration::from_secs(60)).await,
        a.finish_run(&lease_a, run, RunStatus::Failed).await,
        a.start_run(&lease_a, &plan, Mode::Execute)
            .await
            .map(|_| ()),
    ] {
        assert!(
            matches!(refused, Err(StoreError::LeaseLost { .. })),
            "{refused:?}"
        );
    }
    let now = b.unfinished_run(id).await.unwrap().unwrap();
    assert_eq!(now.steps.len(), 2, "{:?}", now.steps);
    // A run that is not this cluster's is named as such.
    let elsewhere = cloudoptim::runtime::RunId(run.0 + 1000);
    assert!(matches!(
        b.record_step(&lease_b, elsewhere, 0, Ok(&second)).await,
        Err(StoreError::NoSuchRun { .. })
    ));
    let third = StepOutcome::Done("cordoned n3".into());
    b.record_step(&lease_b, run, 2, Ok(&third)).await.unwrap();
    b.finish_run(&lease_b, run, RunStatus::Completed)
        .await
        .unwrap();
    // Finishing again changes nothing.
    b.finish_run(&lease_b, run, RunStatus::Failed)
        .await
        .unwrap();
    let history = b.history(Some(id), 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].status, RunStatus::Completed);
    assert_eq!(
        history[0].steps,
        vec![
            (0, StepRecord::Outcome(done)),
            (1, StepRecord::Outcome(second)),
            (2, StepRecord::Outcome(third))
        ]
    );
    assert!(b.unfinished_run(id).await.unwrap().is_none());
    // B gives the cluster back; A's stale lease cannot take it.
    a.release(&lease_a).await.unwrap();
    assert!(b.clusters().await.unwrap()[0].lease_holder.is_some());
    b.release(&lease_b).await.unwrap();
    assert!(b.clusters().await.unwrap()[0].lease_holder.is_none());
}

#[tokio::test]
async fn completed_runs_that_acted_enter_the_savings_ledger() {
    let url = fresh_database("store_savings").await;
    let s = store(&url).await;
    let id = s.add_cluster(&cluster("prod")).await.unwrap();
    let lease = s
        .claim("a", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    let mut plan = Plan::new("consolidation", "2026-12-02T12:00:00Z".parse().unwrap());
    for node in ["n1", "n2"] {
        plan.push(
            Action::Cordon { node: node.into() },
            "test",
            vec![],
            cloudoptim::money::UsdPerHour::from_micro_usd(-250_000),
        );
    }
    // Executed: step 0 done, step 1 skipped; only the done step counts.
    let run = s.start_run(&lease, &plan, Mode::Execute).await.unwrap();
    s.record_step(&lease, run, 0, Ok(&StepOutcome::Done("x".into())))
        .await
        .unwrap();
    s.record_step(&lease, run, 1, Ok(&StepOutcome::Skipped("y".into())))
        .await
        .unwrap();
    s.finish_run(&lease, run, RunStatus::Completed)
        .await
        .unwrap();
    // A dry-run and a failed run count for nothing.
    let dry = s.start_run(&lease, &plan, Mode::DryRun).await.unwrap();
    s.record_step(&lease, dry, 0, Ok(&StepOutcome::WouldDo("x".into())))
        .await
        .unwrap();
    s.finish_run(&lease, dry, RunStatus::Completed)
        .await
        .unwrap();
    let failed = s.start_run(&lease, &plan, Mode::Execute).await.unwrap();
    s.record_step(&lease, failed, 0, Ok(&StepOutcome::Done("x".into())))
        .await
        .unwrap();
    s.finish_run(&lease, failed, RunStatus::Failed)
        .await
        .unwrap();
    // Finishing the first again does not count it twice.
    s.finish_run(&lease, run, RunStatus::Completed)
        .await
        .unwrap();
    assert_eq!(
        s.savings().await.unwrap(),
        vec![(id, cloudoptim::money::UsdPerHour::from_micro_usd(-250_000))]
    );
}
