//! The Kubernetes manifests and the Helm chart under `deploy/`, checked offline by
//! `scripts/check-deploy` (deploy/README.md, "What is validated"): every kustomization and
//! every rendering of the chart against the Kubernetes schemas (`kubernetes-validate
//! --strict`), the custom resources against their CRDs' schemas, `helm lint --strict`, and
//! each rendered config through `spillway validate` (this build) and against its pod (grace
//! period, memory); its negative checks show the validation refuses bad manifests.

use std::process::Command;

use crate::support::*;

#[test]
fn every_manifest_and_the_helm_chart_validate_and_bad_ones_are_refused() {
    let out = Command::new(repo_root().join("scripts/check-deploy"))
        .env("SPILLWAY_BIN", env!("CARGO_BIN_EXE_spillway"))
        .output()
        .expect("scripts/check-deploy starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "scripts/check-deploy failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
    // Every overlay and the chart's switches were rendered, validated and run past spillway.
    for overlay in std::fs::read_dir(repo_root().join("deploy/kubernetes/overlays")).unwrap() {
        let name = overlay.unwrap().file_name().to_string_lossy().to_string();
        let line = format!("ok    kustomize overlays/{name}: kubernetes-validate --strict");
        assert!(stdout.contains(&line), "{line} in\n{stdout}");
    }
    for switch in [
        "persistence.enabled",
        "serviceMonitor.enabled",
        "keda.enabled",
    ] {
        assert!(stdout.contains(switch), "{switch} in\n{stdout}");
    }
    assert!(stdout.contains("spillway validate (stream"), "{stdout}");
    let refused = stdout
        .lines()
        .filter(|l| l.starts_with("ok    negative:"))
        .count();
    assert!(refused >= 4, "the negative checks ran:\n{stdout}");
}
