//! The Kubernetes manifests in deploy/kubernetes: they parse, and the fields the sharding scheme depends on agree
//! with each other and with slacheck's command line. (No schema validator is reachable from CI.)

mod common;
use std::path::Path;
use yaml_rust2::{Yaml, YamlLoader};

fn manifest(name: &str) -> Yaml {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(docs.len(), 1, "{name}: one document");
    docs.remove(0)
}

fn env<'a>(container: &'a Yaml, name: &str) -> &'a Yaml {
    container["env"]
        .as_vec()
        .and_then(|v| v.iter().find(|e| e["name"].as_str() == Some(name)))
        .unwrap_or_else(|| panic!("no env {name}"))
}

#[test]
fn the_indexed_job_runs_one_shard_per_completion_index() {
    let job = manifest("job.yaml");
    assert_eq!(job["apiVersion"].as_str(), Some("batch/v1"));
    assert_eq!(job["kind"].as_str(), Some("Job"));
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"].as_str(), Some("Never"));
    let container = &pod["containers"][0];
    let shards: i64 = env(container, "SHARDS")["value"].as_str().unwrap().parse().unwrap();
    assert_eq!(spec["completions"].as_i64(), Some(shards), "one pod per shard");
    assert_eq!(spec["parallelism"].as_i64(), Some(shards), "all shards at once");
    let script = container["args"][0].as_str().unwrap();
    for part in [
        "slacheck run /scenario/scenario.toml",
        "--shard \"${JOB_COMPLETION_INDEX}/${SHARDS}\"",
        "--start-at \"${START_AT}\"",
        "--out \"/results/shard-${JOB_COMPLETION_INDEX}\"",
    ] {
        assert!(script.contains(part), "job.yaml's command lacks {part}: {script}");
    }
    assert!(env(container, "GATEWAY_API_KEY")["valueFrom"]["secretKeyRef"]["name"].as_str().is_some());

    // The volumes it mounts exist under those names.
    let mounts: Vec<(&str, &str)> = container["volumeMounts"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap(), m["mountPath"].as_str().unwrap()))
        .collect();
    assert!(mounts.contains(&("scenario", "/scenario")) && mounts.contains(&("results", "/results")));
    let volumes = pod["volumes"].as_vec().unwrap();
    let volume = |name: &str| volumes.iter().find(|v| v["name"].as_str() == Some(name)).unwrap();
    let configmap = manifest("configmap.yaml");
    assert_eq!(volume("scenario")["configMap"]["name"], configmap["metadata"]["name"]);
    let pvc = manifest("results-pvc.yaml");
    assert_eq!(volume("results")["persistentVolumeClaim"]["claimName"], pvc["metadata"]["name"]);
    assert_eq!(pvc["spec"]["accessModes"][0].as_str(), Some("ReadWriteMany"), "shards on many nodes write at once");

    let merge = manifest("merge-job.yaml");
    let script = merge["spec"]["template"]["spec"]["containers"][0]["args"][0].as_str().unwrap();
    assert!(script.contains("slacheck merge /results/shard-* --out /results/merged"), "{script}");
    assert_eq!(
        merge["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
        pvc["metadata"]["name"]
    );
}

#[test]
fn the_configmaps_scenario_is_valid() {
    let configmap = manifest("configmap.yaml");
    let text = configmap["data"]["scenario.toml"].as_str().unwrap();
    let ws = common::Workspace::new();
    let file = ws.write("scenario.toml", text);
    let o = std::process::Command::new(common::bin()).arg("validate").arg(&file).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// (owner/repo lowercased, version) as Cargo.toml declares them: what a release publishes.
fn published() -> (String, String) {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let manifest: toml::Table = text.parse().unwrap();
    let package = &manifest["workspace"]["package"];
    let repository = package["repository"].as_str().unwrap();
    let slug = repository.strip_prefix("https://github.com/").expect("a GitHub repository");
    (slug.to_lowercase(), package["version"].as_str().unwrap().to_string())
}

#[test]
fn the_jobs_run_the_image_a_release_publishes_with_its_shell_and_user() {
    let (slug, version) = published();
    let dockerfile = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/Dockerfile")).unwrap();
    // The base has busybox at /busybox/sh (distroless's debug variant) and runs as nonroot, 65532.
    assert!(dockerfile.contains("FROM gcr.io/distroless/static-debian12:debug-nonroot AS base"), "{dockerfile}");
    assert!(dockerfile.contains("\nUSER 65532:65532\n"));
    // Both ways to the image carry both commands.
    let stage =
        |name: &str| dockerfile.split(&format!(" AS {name}\n")).nth(1).unwrap().split("\nFROM ").next().unwrap();
    assert!(stage("build").contains("--bin slacheck --bin mock-upstream"), "{}", stage("build"));
    assert!(stage("source").contains("COPY --from=build /out/bin/ /usr/local/bin/"), "{}", stage("source"));
    let release = stage("release");
    for bin in ["slacheck", "mock-upstream"] {
        assert!(release.contains(&format!("deploy/dist/${{TARGETARCH}}/bin/{bin} ")), "{release}");
    }
    for name in ["job.yaml", "merge-job.yaml"] {
        let job = manifest(name);
        let pod = &job["spec"]["template"]["spec"];
        let container = &pod["containers"][0];
        assert_eq!(container["image"].as_str(), Some(format!("ghcr.io/{slug}:{version}").as_str()), "{name}");
        assert_eq!(container["command"][0].as_str(), Some("/busybox/sh"), "{name}: the image's only shell");
        assert_eq!(pod["securityContext"]["fsGroup"].as_i64(), Some(65532), "{name}: the image's user writes results");
        assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true), "{name}");
    }
    // The release job pushes that name: ghcr.io/ + the repository, lowercased, + the tag without its v.
    let workflow =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".github/workflows/publish-image.yml"))
            .unwrap();
    assert!(workflow.contains("name=ghcr.io/${GITHUB_REPOSITORY,,}") && workflow.contains("version=${TAG#v}"));
    assert!(workflow.contains("${{ steps.image.outputs.name }}:${{ steps.image.outputs.version }}"));
}
