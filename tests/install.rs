//! The install script (action/install.sh, also `curl … | sh`) and the action's release choice (action/resolve.sh),
//! run as the action runs them against a release served from 127.0.0.1 (wiremock). The release is made here: one
//! archive per target, laid out as cargo-dist lays them out (`slacheck-TARGET/slacheck`, `…/mock-upstream`), whose
//! commands print their target, and a sha256.sum computed by coreutils' sha256sum. `cargo` is a stand-in script that
//! records how it was called, so a fallback to building from source is seen without building.

use std::path::{Path, PathBuf};
use std::process::Command;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TARGETS: [&str; 4] =
    ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl", "x86_64-apple-darwin", "aarch64-apple-darwin"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) -> std::process::Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

/// `slacheck-TARGET.tar.gz`, with both commands as scripts that say which archive they came from.
fn archive(scratch: &Path, target: &str) -> Vec<u8> {
    let dir = scratch.join(format!("slacheck-{target}"));
    std::fs::create_dir_all(&dir).unwrap();
    for bin in ["slacheck", "mock-upstream"] {
        std::fs::write(dir.join(bin), format!("#!/bin/sh\necho \"{bin} {target}\"\n")).unwrap();
    }
    let file = scratch.join(format!("slacheck-{target}.tar.gz"));
    let o = run(Command::new("tar").arg("-czf").arg(&file).arg("-C").arg(scratch).arg(format!("slacheck-{target}")));
    assert!(o.status.success(), "tar: {}", String::from_utf8_lossy(&o.stderr));
    std::fs::read(file).unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("blob");
    std::fs::write(&file, bytes).unwrap();
    let o = run(Command::new("sha256sum").arg(&file));
    String::from_utf8(o.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

/// A release's files: each target's archive, and sha256.sum over the archives given in `listed`.
fn release(listed: &[&str]) -> Vec<(String, Vec<u8>)> {
    let scratch = tempfile::tempdir().unwrap();
    let mut files: Vec<(String, Vec<u8>)> =
        TARGETS.iter().map(|t| (format!("slacheck-{t}.tar.gz"), archive(scratch.path(), t))).collect();
    let sums: String = files
        .iter()
        .filter(|(name, _)| listed.iter().any(|t| name == &format!("slacheck-{t}.tar.gz")))
        .map(|(name, bytes)| format!("{}  {name}\n", sha256(bytes)))
        .collect();
    files.push(("sha256.sum".into(), sums.into_bytes()));
    files
}

/// Serves `files` under `/releases/{at}/` (`download/v0.1.0` or `latest/download`); anything else is a 404.
async fn serve(at: &str, files: &[(String, Vec<u8>)]) -> MockServer {
    let server = MockServer::start().await;
    for (name, bytes) in files {
        Mock::given(method("GET"))
            .and(path(format!("/releases/{at}/{name}")))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(bytes.clone()))
            .mount(&server)
            .await;
    }
    server
}

struct Install {
    code: i32,
    stderr: String,
    to: PathBuf,
    /// The arguments of each call of the stand-in cargo, one line per call.
    cargo_calls: String,
    _dir: tempfile::TempDir,
}

impl Install {
    /// What an installed command prints (it names the archive it came from), or None when it is not there.
    fn says(&self, bin: &str) -> Option<String> {
        let path = self.to.join("bin").join(bin);
        path.exists().then(|| String::from_utf8(run(&mut Command::new(&path)).stdout).unwrap().trim().to_string())
    }
}

/// Runs `sh action/install.sh --to DIR ARGS` as on a machine that says (os, arch), against `server`.
fn install(server: &MockServer, (os, arch): (&str, &str), args: &[&str]) -> Install {
    let dir = tempfile::tempdir().unwrap();
    let (to, calls, cargo) = (dir.path().join("to"), dir.path().join("cargo-calls"), dir.path().join("cargo"));
    std::fs::write(&cargo, format!("#!/bin/sh\necho \"$*\" >> '{}'\n", calls.display())).unwrap();
    run(Command::new("chmod").arg("755").arg(&cargo));
    let o = run(Command::new("sh")
        .arg(root().join("action/install.sh"))
        .arg("--to")
        .arg(&to)
        .args(args)
        .env("SLACHECK_RELEASES", format!("{}/releases", server.uri()))
        .env("SLACHECK_OS", os)
        .env("SLACHECK_ARCH", arch)
        .env("CARGO", &cargo));
    Install {
        code: o.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        cargo_calls: std::fs::read_to_string(&calls).unwrap_or_default(),
        to,
        _dir: dir,
    }
}

async fn requested(server: &MockServer) -> Vec<String> {
    server.received_requests().await.unwrap().iter().map(|r| r.url.path().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_platform_gets_its_own_archive_with_both_commands_after_its_checksum() {
    let files = release(&TARGETS);
    for (machine, target) in [
        (("Linux", "x86_64"), "x86_64-unknown-linux-musl"),
        (("Linux", "aarch64"), "aarch64-unknown-linux-musl"),
        (("Darwin", "x86_64"), "x86_64-apple-darwin"),
        (("Darwin", "arm64"), "aarch64-apple-darwin"),
    ] {
        let server = serve("download/v0.1.0", &files).await;
        let i = install(&server, machine, &["--version", "v0.1.0"]);
        assert_eq!(i.code, 0, "{machine:?}: {}", i.stderr);
        assert_eq!(i.says("slacheck").as_deref(), Some(format!("slacheck {target}").as_str()), "{machine:?}");
        assert_eq!(i.says("mock-upstream").as_deref(), Some(format!("mock-upstream {target}").as_str()));
        let sum = sha256(&files.iter().find(|(n, _)| n == &format!("slacheck-{target}.tar.gz")).unwrap().1);
        assert!(i.stderr.contains(&format!("SHA-256 {sum} checked")), "{}", i.stderr);
        assert_eq!(
            requested(&server).await,
            [
                "/releases/download/v0.1.0/sha256.sum".to_string(),
                format!("/releases/download/v0.1.0/slacheck-{target}.tar.gz")
            ],
            "only the checksums and this platform's archive are fetched"
        );
        assert_eq!(i.cargo_calls, "", "nothing is built");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_version_the_latest_release_is_installed() {
    let server = serve("latest/download", &release(&TARGETS)).await;
    let i = install(&server, ("Linux", "x86_64"), &[]);
    assert_eq!(i.code, 0, "{}", i.stderr);
    assert_eq!(i.says("slacheck").as_deref(), Some("slacheck x86_64-unknown-linux-musl"));
    assert!(i.stderr.contains("of the latest release"), "{}", i.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_checksum_mismatch_is_refused_and_nothing_is_installed() {
    let mut files = release(&TARGETS);
    // The Linux x86_64 line carries the aarch64 archive's checksum: a real SHA-256, of other bytes.
    let (x86, arm) = (sha256(&files[0].1), sha256(&files[1].1));
    let sums = files.iter_mut().find(|(n, _)| n == "sha256.sum").unwrap();
    sums.1 = String::from_utf8(sums.1.clone()).unwrap().replacen(&x86, &arm, 1).into_bytes();
    let server = serve("download/v0.1.0", &files).await;
    let i = install(&server, ("Linux", "x86_64"), &["--version", "0.1.0"]);
    assert_eq!(i.code, 1, "{}", i.stderr);
    assert!(
        i.stderr.contains("checksum mismatch for slacheck-x86_64-unknown-linux-musl.tar.gz")
            && i.stderr.contains(&format!("sha256.sum says {arm}, the download is {x86}"))
            && i.stderr.contains("nothing installed"),
        "{}",
        i.stderr
    );
    assert_eq!((i.says("slacheck"), i.says("mock-upstream")), (None, None));
    assert_eq!(i.cargo_calls, "", "a bad download is not a reason to build");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_archive_for_the_platform_falls_back_to_cargo_and_says_so() {
    let server = serve("download/v0.1.0", &release(&TARGETS[..3])).await;

    // A platform no archive is built for: crates.io, at the same version.
    let i = install(&server, ("Linux", "riscv64"), &["--version", "0.1.0"]);
    assert_eq!(i.code, 0, "{}", i.stderr);
    assert!(i.stderr.contains("no release archive is built for Linux/riscv64: building from source"), "{}", i.stderr);
    let to = i.to.display();
    assert_eq!(i.cargo_calls, format!("install --locked --root {to} slacheck --version 0.1.0\n"));

    // A supported platform whose archive this release lacks (not in sha256.sum): the action's own checkout.
    let i = install(&server, ("Darwin", "arm64"), &["--version", "0.1.0", "--source", "/action/src"]);
    assert_eq!(i.code, 0, "{}", i.stderr);
    assert!(
        i.stderr.contains("release v0.1.0 has no archive for Darwin/arm64 (slacheck-aarch64-apple-darwin.tar.gz)")
            && i.stderr.contains("cargo install --locked --path /action/src"),
        "{}",
        i.stderr
    );
    assert_eq!(i.cargo_calls, format!("install --locked --root {} --path /action/src\n", i.to.display()));
    assert!(!requested(&server).await.iter().any(|p| p.ends_with(".tar.gz")), "no archive was downloaded");

    // No version and a source tree (the action at a branch or commit): built at once, nothing fetched.
    server.reset().await;
    let i = install(&server, ("Linux", "x86_64"), &["--source", "/action/src"]);
    assert_eq!(i.code, 0, "{}", i.stderr);
    assert!(i.stderr.contains("no release archive for this ref (a branch or a commit"), "{}", i.stderr);
    assert_eq!(i.cargo_calls, format!("install --locked --root {} --path /action/src\n", i.to.display()));
    assert!(requested(&server).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_version_that_was_never_released_is_a_clear_error() {
    let server = serve("download/v0.1.0", &release(&TARGETS)).await;
    let i = install(&server, ("Linux", "x86_64"), &["--version", "9.9.9"]);
    assert_eq!(i.code, 1, "{}", i.stderr);
    let url = format!("{}/releases/download/v9.9.9/sha256.sum", server.uri());
    assert!(
        i.stderr.contains(&format!("error: there is no release v9.9.9 ({url}: HTTP 404)"))
            && i.stderr.contains(&format!("the releases are listed at {}/releases", server.uri())),
        "{}",
        i.stderr
    );
    assert_eq!((i.says("slacheck"), i.cargo_calls.as_str()), (None, ""));

    // The action at a tag whose release never came (its workflow failed): its own source is that tag's code.
    let i = install(&server, ("Linux", "x86_64"), &["--version", "9.9.9", "--source", "/action/src"]);
    assert_eq!(i.code, 0, "{}", i.stderr);
    assert!(i.stderr.contains("release v9.9.9 does not exist at"), "{}", i.stderr);
    assert_eq!(i.cargo_calls, format!("install --locked --root {} --path /action/src\n", i.to.display()));

    let i = install(&server, ("Linux", "x86_64"), &["--to"]);
    assert_eq!(i.code, 2, "a flag without its value is bad usage: {}", i.stderr);
}

/// Runs action/resolve.sh with this environment; returns (exit code, its outputs).
fn resolve(env: &[(&str, &str)]) -> (i32, Vec<(String, String)>) {
    let dir = tempfile::tempdir().unwrap();
    let outputs = dir.path().join("outputs");
    let o = run(Command::new("bash")
        .arg(root().join("action/resolve.sh"))
        .env_remove("ACTION_REF")
        .env_remove("INPUT_VERSION")
        .env("GITHUB_OUTPUT", &outputs)
        .env("GITHUB_SHA", "c0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ff")
        .envs(env.iter().copied()));
    let text = std::fs::read_to_string(&outputs).unwrap_or_default();
    let pairs = text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.into(), v.into())).collect();
    (o.status.code().unwrap_or(-1), pairs)
}

fn output<'a>(outputs: &'a [(String, String)], key: &str) -> &'a str {
    outputs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("no {key}: {outputs:?}"))
}

/// A source tree as the action's checkout has it (only what the cache key reads), in a runner's _actions folder.
fn checkout(runner: &Path, git_ref: &str) -> PathBuf {
    let tree = runner.join("_actions/slacheck/slacheck").join(git_ref);
    for (file, text) in [
        ("Cargo.toml", "[package]"),
        ("Cargo.lock", "# lock"),
        ("src/main.rs", "fn main() {}"),
        ("common/src/lib.rs", ""),
        ("mock-upstream/src/lib.rs", ""),
        ("assets/report/report.js", "//"),
        ("mock-upstream/tests/serve.rs", "// a test"),
    ] {
        std::fs::create_dir_all(tree.join(file).parent().unwrap()).unwrap();
        std::fs::write(tree.join(file), text).unwrap();
    }
    tree
}

#[test]
fn the_action_installs_the_release_of_its_own_tag_and_never_keys_the_cache_on_the_callers_commit() {
    let runner = tempfile::tempdir().unwrap();
    let tagged = checkout(runner.path(), "v0.1.0");
    let path = tagged.to_str().unwrap();

    // github.action_ref empty (as in composite actions on some runners): the tag is read from the action's path.
    let (code, out) = resolve(&[("GITHUB_ACTION_PATH", path)]);
    assert_eq!(code, 0);
    assert_eq!((output(&out, "version"), output(&out, "source")), ("0.1.0", path));
    assert_eq!(output(&out, "cache-key"), "release-v0.1.0");
    let (_, out) = resolve(&[("GITHUB_ACTION_PATH", "/somewhere/else"), ("ACTION_REF", "v0.2.0")]);
    assert_eq!(output(&out, "version"), "0.2.0");

    // The version input wins, and its fallback is crates.io (the checkout is another version's code).
    let (_, out) = resolve(&[("GITHUB_ACTION_PATH", path), ("INPUT_VERSION", "v0.3.1")]);
    assert_eq!((output(&out, "version"), output(&out, "source")), ("0.3.1", ""));
    let (code, out) = resolve(&[("GITHUB_ACTION_PATH", path), ("INPUT_VERSION", "main")]);
    assert_eq!((code, out.len()), (2, 0), "a version input that is no version is bad usage");

    // At a branch or commit: built from the checkout, keyed by the content of what is built.
    let branch = checkout(runner.path(), "main");
    let key = |tree: &Path| {
        let (code, out) = resolve(&[("GITHUB_ACTION_PATH", tree.to_str().unwrap())]);
        assert_eq!((code, output(&out, "version"), output(&out, "source")), (0, "", tree.to_str().unwrap()));
        output(&out, "cache-key").to_string()
    };
    let first = key(&branch);
    assert!(first.starts_with("source-") && first.len() == "source-".len() + 16, "{first}");
    assert!(!first.contains("c0ffee"), "the caller's commit is not in the key");
    std::fs::write(branch.join("mock-upstream/tests/serve.rs"), "// another test").unwrap();
    assert_eq!(key(&branch), first, "a change outside what is built keeps the key");
    std::fs::write(branch.join("src/main.rs"), "fn main() { println!() }").unwrap();
    assert_ne!(key(&branch), first, "a change to the sources changes it");
}

#[test]
fn the_action_steps_use_the_resolved_release_and_no_commit_of_the_caller() {
    let text = std::fs::read_to_string(root().join("action.yml")).unwrap();
    assert!(!text.contains("github.sha"), "action.yml must not key anything on the caller's commit");
    let doc = &yaml_rust2::YamlLoader::load_from_str(&text).unwrap()[0];
    let steps = doc["runs"]["steps"].as_vec().unwrap();
    let step = |id: &str| steps.iter().find(|s| s["id"].as_str() == Some(id)).unwrap_or_else(|| panic!("no step {id}"));
    assert!(step("resolve")["run"].as_str().unwrap().contains("action/resolve.sh"));
    let key = step("cache")["with"]["key"].as_str().unwrap();
    assert!(key.contains("${{ steps.resolve.outputs.cache-key }}") && key.contains("runner.os"), "{key}");
    let install = steps.iter().find(|s| s["run"].as_str().is_some_and(|r| r.contains("action/install.sh"))).unwrap();
    assert_eq!(install["env"]["VERSION"].as_str(), Some("${{ steps.resolve.outputs.version }}"));
    assert_eq!(install["env"]["SOURCE"].as_str(), Some("${{ steps.resolve.outputs.source }}"));
}

#[test]
fn the_docs_and_the_script_name_the_release_this_version_makes() {
    // A tag vX.Y.Z of Cargo.toml's version makes the release (release.yml); its repository is where it lives.
    let manifest: toml::Table = std::fs::read_to_string(root().join("Cargo.toml")).unwrap().parse().unwrap();
    let package = &manifest["workspace"]["package"];
    let version = package["version"].as_str().unwrap();
    let repository = package["repository"].as_str().unwrap();
    let slug = repository.strip_prefix("https://github.com/").unwrap();
    let ci = std::fs::read_to_string(root().join("docs/ci.md")).unwrap();
    assert!(ci.contains(&format!("uses: {slug}@v{version} ")), "docs/ci.md shows the tag v{version}");
    assert!(ci.contains(&format!("version: {version} ")) && ci.contains(&format!("--version {version}\n")));
    for line in ci.lines().filter(|l| l.contains(&format!("uses: {slug}@"))) {
        let at =
            line.split('@').nth(1).unwrap().split(|c: char| !c.is_ascii_alphanumeric() && c != '.').next().unwrap();
        assert!(at == format!("v{version}") || at.len() == 40, "{line}: a release tag or a commit");
    }
    let script = std::fs::read_to_string(root().join("action/install.sh")).unwrap();
    assert!(script.contains(&format!("SLACHECK_RELEASES:-{repository}/releases}}")), "install.sh's default releases");
    let dist = std::fs::read_to_string(root().join("dist-workspace.toml")).unwrap();
    for target in TARGETS {
        assert!(dist.contains(&format!("\"{target}\"")), "dist builds {target}, which install.sh fetches");
    }
    assert!(dist.contains("unix-archive = \".tar.gz\"") && dist.contains("checksum = \"sha256\""));
}
