//! The API key named by `api_key_env` is sent as a bearer token and written nowhere.

mod common;
use common::Workspace;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "sk-test-9f8e7d6c5b4a";

#[tokio::test(flavor = "multi_thread")]
async fn the_key_reaches_the_target_and_appears_nowhere_else() {
    let server = MockServer::builder().listener(std::net::TcpListener::bind("127.0.0.1:0").unwrap()).start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
        .mount(&server)
        .await;
    let ws = Workspace::new();
    let s = ws.write(
        "gw.toml",
        &format!(
            "name = \"gw\"\n[target]\nurl = \"{}/v1/chat/completions\"\napi_key_env = \"SLACHECK_TEST_KEY\"\nbody = '{{}}'\n\
             [load]\nprofile = \"constant\"\nrate = \"20/s\"\nduration = \"1s\"\n[sla]\navailability = \"80%\"\n",
            server.uri()
        ),
    );
    let r = tokio::task::spawn_blocking(move || {
        let r = ws.run_env(&s, &[], &[("SLACHECK_TEST_KEY", SECRET)]);
        (r.code, r.stdout, r.stderr, r.out, ws)
    })
    .await
    .unwrap();
    let (code, stdout, stderr, out, _ws) = r;
    assert_eq!(code, 0, "{stderr}");
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 20);
    for req in &received {
        assert_eq!(req.headers.get("authorization").unwrap().to_str().unwrap(), format!("Bearer {SECRET}"));
    }
    assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET));
    let files: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(files.len() >= 3, "summary.json, junit.xml, summary.md: {files:?}");
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        assert!(!bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()), "the key leaked into {}", path.display());
    }
    let summary = std::fs::read_to_string(out.join("summary.json")).unwrap();
    assert!(summary.contains("SLACHECK_TEST_KEY"), "the variable's name is recorded, not its value");
}

#[test]
fn a_missing_key_variable_is_a_usage_error_naming_it() {
    let ws = Workspace::new();
    let s = ws.write(
        "nokey.toml",
        "name = \"nokey\"\n[target]\nurl = \"http://127.0.0.1:9/\"\napi_key_env = \"SLACHECK_SURELY_UNSET_VAR\"\n\
         [load]\nprofile = \"constant\"\nrate = \"1/s\"\nduration = \"1s\"\n",
    );
    let r = ws.run(&s, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("SLACHECK_SURELY_UNSET_VAR"), "{}", r.stderr);
}

#[test]
fn a_key_unfit_for_a_header_is_a_usage_error_placed_in_the_scenario_and_not_shown() {
    let ws = Workspace::new();
    let s = ws.write(
        "badkey.toml",
        "name = \"badkey\"\n[target]\nurl = \"http://127.0.0.1:9/\"\napi_key_env = \"SLACHECK_TEST_BAD_KEY\"\n\
         [load]\nprofile = \"constant\"\nrate = \"1/s\"\nduration = \"1s\"\n",
    );
    let secret = "sk-line1\nline2-secret";
    let r = ws.run_env(&s, &[], &[("SLACHECK_TEST_BAD_KEY", secret)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("badkey.toml:4"), "the error is placed at api_key_env's line: {}", r.stderr);
    assert!(r.stderr.contains("target.api_key_env"), "{}", r.stderr);
    assert!(!r.stderr.contains("line2-secret") && !r.stdout.contains("line2-secret"), "the key leaked: {}", r.stderr);
}
