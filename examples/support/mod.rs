//! What every example shares: leaving quietly when the reader goes away.

/// When stdout is a pipe whose reader has gone (`tour | head`), `println!`
/// panics with "failed printing to stdout: Broken pipe". Exit quietly
/// instead, as command-line tools do; every other panic is reported as usual.
pub fn exit_quietly_on_broken_pipe() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        report(info);
    }));
}

/// Read a `kubectl get … -o json` file (or `cluster-info dump` output) as it
/// streams from disk, so a large cluster's file is never held whole; errors
/// name the file.
#[allow(dead_code)] // Not every example that includes this reads snapshots.
pub fn read_kubectl_file(
    path: &std::path::Path,
) -> Result<cloudoptim::kubectl::KubectlImport, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    cloudoptim::kubectl::read_list_from(file).map_err(|e| format!("{}: {e}", path.display()))
}

/// Run `plan` through the one plan runner over the live account (EC2 and
/// Auto Scaling) and cluster, with the clock fixed at `now`; print what each
/// step did (or would do, in dry-run) and fail on the first failed step.
#[cfg(all(feature = "aws", feature = "kube"))]
#[allow(dead_code)] // Only the examples that act on both sides call it.
pub async fn run_live_plan(
    plan: &cloudoptim::plan::Plan,
    now: jiff::Timestamp,
    execute: bool,
    aws: &cloudoptim::aws::Ec2Executor,
    client: cloudoptim::k8s::KubeClient,
) -> Result<(), String> {
    use cloudoptim::plan::Mode;
    let mode = if execute { Mode::Execute } else { Mode::DryRun };
    let kube = cloudoptim::k8s::KubeExecutor::new(client, mode);
    let clock = move || now;
    let ran = cloudoptim::execute::PlanRunner::new(&clock)
        .with(aws)
        .with(&kube)
        .mode(mode)
        .run(plan)
        .await
        .map_err(|e| format!("plan refused: {e}"))?;
    println!(
        "\n  {}:\n{ran}",
        if execute {
            "Executed (every precondition re-checked first)"
        } else {
            "Dry-run (add --execute to act)"
        }
    );
    match ran.failed {
        Some(f) => Err(format!("step {} failed: {}", f.index + 1, f.source)),
        None => Ok(()),
    }
}
