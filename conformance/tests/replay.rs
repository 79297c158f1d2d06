//! Replays every fixture trace (`fixtures/traces/<minor>/<scenario>.jsonl`) against a fresh
//! in-process simulated node, and snapshots the normalised outcomes.

mod common;

use common::SimServer;
use crius_conformance::client::CriClient;
use crius_conformance::replay::ReplayOptions;
use crius_conformance::{Replayer, load};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/traces");
    let mut files = Vec::new();
    for minor in std::fs::read_dir(&root).unwrap() {
        let minor = minor.unwrap().path();
        if !minor.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&minor).unwrap() {
            let file = file.unwrap().path();
            if file.extension().is_some_and(|e| e == "jsonl") {
                files.push(file);
            }
        }
    }
    files.sort();
    files
}

/// `1.36/startup` for `.../fixtures/traces/1.36/startup.jsonl`.
fn short_name(path: &Path) -> String {
    let minor = path
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy();
    format!("{minor}/{}", path.file_stem().unwrap().to_string_lossy())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_conforms_on_the_simulated_node() {
    let files = fixtures();
    assert!(files.len() >= 3, "fixtures are missing");
    let mut failed = Vec::new();
    for file in &files {
        let name = short_name(file);
        let trace = load(file).unwrap_or_else(|e| panic!("{e}"));
        let sim = SimServer::start(trace.header.fault_plan.as_deref()).await;
        let client = CriClient::connect(&sim.endpoint()).await.unwrap();
        let log_root = sim.dir.path().join("logs");
        let mut replayer =
            Replayer::new(client)
                .with_world(sim.world())
                .with_options(ReplayOptions {
                    timeout: Duration::from_secs(10),
                    log_root: Some(log_root),
                });
        let report = replayer.run(&trace).await;
        let shown = report.render(&file.display().to_string());
        if !report.conforms() {
            failed.push(shown);
        } else {
            insta::with_settings!({snapshot_suffix => name.replace(['/', '.'], "_"), description => name.clone()}, {
                insta::assert_json_snapshot!("outcome", report.outcomes);
            });
        }
        sim.shutdown().await;
    }
    assert!(
        failed.is_empty(),
        "{} trace(s) diverged:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_divergence_names_the_line_the_method_and_both_values() {
    let text = r#"{"kind":"header","format":1,"k8s":"1.36","source":"synthetic","recorder":"test","runtime":{"name":"any"}}
{"kind":"call","seq":1,"svc":"RuntimeService","method":"Version","request":{},"response":{"version":"0.1.0"}}
{"kind":"call","seq":2,"svc":"RuntimeService","method":"PodSandboxStatus","request":{"podSandboxId":"nope"},"response":{"status":{"id":"nope"}}}
{"kind":"call","seq":3,"svc":"RuntimeService","method":"Status","request":{},"error":{"code":"NotFound"},"ambient":true}
{"kind":"action","do":"exit","container":"x","exit_code":1}
"#;
    let trace = crius_conformance::parse(text).unwrap();
    let sim = SimServer::start(None).await;
    let client = CriClient::connect(&sim.endpoint()).await.unwrap();
    let report = Replayer::new(client)
        .with_world(sim.world())
        .run(&trace)
        .await;
    assert!(!report.conforms());
    let failures: Vec<_> = report.failures().collect();
    assert_eq!(failures.len(), 1, "{}", report.render("t"));
    assert_eq!(
        (
            failures[0].line,
            failures[0].what.as_str(),
            failures[0].path.as_str()
        ),
        (3, "PodSandboxStatus", "status")
    );
    assert_eq!(failures[0].got.as_ref().unwrap()["code"], "NotFound");
    let shown = report.render("t.jsonl");
    assert!(
        shown.contains("t.jsonl:line 3 PodSandboxStatus at status: the call failed"),
        "{shown}"
    );
    assert!(
        shown.contains("line 4 Status") && shown.contains("tolerated: ambient call"),
        "{shown}"
    );
    assert!(shown.contains("line 5 action exit: skipped"), "{shown}");
    sim.shutdown().await;
}
