//! The core-platform HTTP API against a real PostgreSQL and a real
//! kube-apiserver (both started on loopback by `./scripts/test`): register
//! a cluster, list it without its token, cordon one of its nodes through
//! the plan runner (dry-run, then for real), read the runs back.
#![cfg(feature = "runtime")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod runtime_support;

use std::sync::Arc;
use std::time::Duration;

use cloudoptim::k8s::{ClientSettings, KubeClient, Onboarding, SecretString};
use cloudoptim::runtime::api::ApiState;
use cloudoptim::runtime::{Store, TokenKey};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, PostParams};
use runtime_support::{call, env, fresh_database, serve};
use serde_json::{json, Value};

#[tokio::test]
async fn register_a_cluster_and_cordon_a_node_through_the_api() {
    let url = fresh_database("api_cordon").await;
    let key = TokenKey::from_hex(&"5a".repeat(32)).unwrap();
    let mut store = Store::connect(&url, key).await.unwrap();
    store.migrate().await.unwrap();
    let state = Arc::new(ApiState {
        store: Arc::new(store),
        api_key: Some("let-me-in".into()),
        holder: "api-test".into(),
        kube_settings: ClientSettings {
            timeout: Duration::from_secs(10),
            retry_attempts: 2,
            retry_base_delay: Duration::from_millis(100),
        },
        metrics: None,
    });
    let addr = serve(state).await;
    let k = Some("let-me-in");

    // The node to cordon, in the real API server.
    let endpoint = env("CLOUDOPTIM_KUBE_APISERVER");
    let token = env("CLOUDOPTIM_KUBE_ADMIN_TOKEN");
    let ca = std::fs::read_to_string(env("CLOUDOPTIM_KUBE_CA")).unwrap();
    let admin = KubeClient::from_onboarding(
        &Onboarding {
            endpoint: endpoint.clone(),
            token: SecretString::from(token.clone()),
            ca_pem: Some(ca.clone()),
        },
        ClientSettings::from_env().unwrap(),
    )
    .await
    .unwrap();
    let nodes: Api<Node> = Api::all(admin.kube().clone());
    // Left by an earlier run against the same server, if any.
    let _ = nodes
        .delete("api-cordon-node", &kube::api::DeleteParams::default())
        .await;
    nodes
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "api-cordon-node"}})).unwrap(),
        )
        .await
        .unwrap();

    // No key, a wrong key: refused.
    assert_eq!(
        call(addr, "GET", "/api/v1/admin/clusters", None, None)
            .await
            .0,
        401
    );
    let (status, err) = call(addr, "GET", "/api/v1/admin/clusters", Some("nope"), None).await;
    assert_eq!((status, err["error"].as_str()), (401, Some("unauthorized")));

    // Register; bad bodies say what is wrong.
    let cluster = json!({"name": "prod", "region": "us-east-1", "api_endpoint": endpoint,
        "ca_pem": ca, "service_account_token": token});
    let (status, created) = call(
        addr,
        "POST",
        "/api/v1/admin/clusters",
        k,
        Some(cluster.clone()),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    let (status, err) = call(
        addr,
        "POST",
        "/api/v1/admin/clusters",
        k,
        Some(cluster.clone()),
    )
    .await;
    assert_eq!((status, err["error"].as_str()), (409, Some("duplicate")));
    let mut bad = cluster.clone();
    bad["api_endpoint"] = json!("http://plain.example");
    bad["name"] = json!("dev");
    let (status, err) = call(addr, "POST", "/api/v1/admin/clusters", k, Some(bad)).await;
    assert_eq!(status, 422);
    assert!(
        err["reason"].as_str().unwrap().contains("api_endpoint"),
        "{err}"
    );
    let (status, err) = call(
        addr,
        "POST",
        "/api/v1/admin/clusters",
        k,
        Some(json!({"name": "x", "surprise": 1})),
    )
    .await;
    assert_eq!(status, 400, "{err}");

    // Listed without the token.
    let (status, listed) = call(addr, "GET", "/api/v1/admin/clusters", k, None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["clusters"][0]["name"], "prod");
    assert!(!listed.to_string().contains(&token));

    // Cordon: a dry-run first (the default), then for real.
    let path = format!("/api/v1/k8s/{id}/nodes/cordon");
    let (status, dry) = call(
        addr,
        "POST",
        &path,
        k,
        Some(json!({"node": "api-cordon-node"})),
    )
    .await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["mode"], "dry_run");
    assert_eq!(dry["steps"][0]["outcome"], "would_do");
    assert_ne!(
        nodes
            .get("api-cordon-node")
            .await
            .unwrap()
            .spec
            .unwrap()
            .unschedulable,
        Some(true)
    );
    let (status, done) = call(
        addr,
        "POST",
        &path,
        k,
        Some(json!({"node": "api-cordon-node", "execute": true})),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["steps"][0]["outcome"], "done");
    assert_eq!(
        nodes
            .get("api-cordon-node")
            .await
            .unwrap()
            .spec
            .unwrap()
            .unschedulable,
        Some(true)
    );
    // A node that is not there: the precondition skips it, nothing fails.
    let (status, gone) = call(
        addr,
        "POST",
        &path,
        k,
        Some(json!({"node": "no-such-node", "execute": true})),
    )
    .await;
    assert_eq!(status, 200, "{gone}");
    assert_eq!(gone["steps"][0]["outcome"], "skipped");
    let (status, err) = call(
        addr,
        "POST",
        "/api/v1/k8s/999/nodes/cordon",
        k,
        Some(json!({"node": "n"})),
    )
    .await;
    assert_eq!((status, err["error"].as_str()), (404, Some("not_found")));

    // The history has the three runs, newest first, each completed.
    let (status, history) = call(
        addr,
        "GET",
        &format!("/api/v1/optimization/history?cluster_id={id}"),
        k,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let runs = history["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3, "{history}");
    assert!(runs
        .iter()
        .all(|r| r["status"] == "completed" && r["engine"] == "api-cordon"));
    assert_eq!(runs[1]["steps"][0]["outcome"], "done");
    assert_eq!(runs[2]["mode"], "dry_run");
    assert_eq!(runs[1]["mode"], "execute");
    // A path or query that does not parse is a JSON error too.
    let (status, err) = call(
        addr,
        "POST",
        "/api/v1/k8s/prod/nodes/cordon",
        k,
        Some(json!({"node": "n"})),
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("bad_request")),
        "{err}"
    );
    let (status, err) = call(
        addr,
        "GET",
        "/api/v1/optimization/history?limit=many",
        k,
        None,
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("bad_request")),
        "{err}"
    );
    // Drain: the cordon is already done; its one pod is evicted.
    let pods: Api<k8s_openapi::api::core::v1::Pod> =
        Api::namespaced(admin.kube().clone(), "default");
    let _ = pods
        .delete("api-drain-pod", &kube::api::DeleteParams::default())
        .await;
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "api-drain-pod", "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "0b0e9f5e-2f7c-4a55-9d0e-5c1f6c7c0009", "controller": true}]},
            "spec": {"nodeName": "api-cordon-node", "terminationGracePeriodSeconds": 0,
                "containers": [{"name": "app", "image": "registry.example/app:1"}]}}))
        .unwrap(),
    )
    .await
    .unwrap();
    let (status, drained) = call(
        addr,
        "POST",
        &format!("/api/v1/k8s/{id}/nodes/drain"),
        k,
        Some(json!({"node": "api-cordon-node", "execute": true})),
    )
    .await;
    assert_eq!(status, 200, "{drained}");
    assert_eq!(drained["steps"].as_array().unwrap().len(), 2, "{drained}");
    assert!(
        drained["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["outcome"] == "done"),
        "{drained}"
    );

    // Cordons and drains change no price: the ledger is empty.
    let (status, saved) = call(addr, "GET", "/api/v1/admin/savings", k, None).await;
    assert_eq!(status, 200);
    assert_eq!(saved["clusters"], json!([]));

    // The OpenAPI document names every route served.
    let (status, doc) = call(addr, "GET", "/api/v1/openapi.json", k, None).await;
    assert_eq!(status, 200);
    for route in [
        "/api/v1/admin/clusters",
        "/api/v1/admin/savings",
        "/api/v1/optimization/history",
        "/api/v1/optimization/trigger",
        "/api/v1/events/spot-warnings",
        "/api/v1/events/process",
        "/api/v1/k8s/{cluster_id}/nodes",
        "/api/v1/k8s/{cluster_id}/nodes/drain",
        "/api/v1/k8s/{cluster_id}/nodes/cordon",
        "/metrics",
    ] {
        assert!(doc["paths"].get(route).is_some(), "{route}");
    }
    // The lease was given back after each request.
    let (_, listed) = call(addr, "GET", "/api/v1/admin/clusters", k, None).await;
    assert_eq!(listed["clusters"][0]["lease_holder"], Value::Null);
}
