//! Bad scenarios: each exits 2 with a message naming the file, line and field, and none panics.

mod common;
use common::Workspace;

const GOOD_HEAD: &str = "name = \"bad\"\n[target]\nmock = \"default\"\n";
const GOOD_LOAD: &str = "[load]\nprofile = \"constant\"\nrate = \"10/s\"\nduration = \"1s\"\n";

/// (what is wrong, scenario text, expected line, expected field, a word the message must contain)
fn cases() -> Vec<(&'static str, String, usize, &'static str, &'static str)> {
    vec![
        ("unknown top-level key", format!("nmae = \"x\"\n{GOOD_HEAD}{GOOD_LOAD}"), 1, "nmae", "unknown field"),
        ("bad duration", format!("{GOOD_HEAD}[load]\nprofile = \"constant\"\nrate = \"10/s\"\nduration = \"3 parsecs\"\n"), 7, "load.duration", "duration"),
        ("negative rate", format!("{GOOD_HEAD}[load]\nprofile = \"constant\"\nrate = \"-5/s\"\nduration = \"1s\"\n"), 6, "load.rate", "positive"),
        ("p99 above max", format!("{GOOD_HEAD}{GOOD_LOAD}[sla]\np99 = \"2s\"\nmax = \"1s\"\n"), 10, "sla.max", "below p99"),
        ("missing target", format!("name = \"bad\"\n{GOOD_LOAD}"), 1, "", "target"),
        ("unreadable trace file", format!("{GOOD_HEAD}[load]\nprofile = \"trace\"\ntrace = \"no-such-trace.csv\"\n"), 6, "load.trace", "cannot read"),
        ("unknown profile", format!("{GOOD_HEAD}[load]\nprofile = \"zigzag\"\nduration = \"1s\"\n"), 5, "load.profile", "constant"),
        ("url and mock both", format!("name = \"bad\"\n[target]\nmock = \"default\"\nurl = \"http://127.0.0.1:1/\"\n{GOOD_LOAD}"), 3, "target.mock", "not both"),
        ("availability over 100%", format!("{GOOD_HEAD}{GOOD_LOAD}[sla]\navailability = \"120%\"\n"), 9, "sla.availability", "100%"),
        ("undeclared mock provider", format!("name = \"bad\"\n[target]\nmock = \"primary\"\n{GOOD_LOAD}"), 3, "target.mock", "primary"),
        (
            "burst longer than its period",
            format!("{GOOD_HEAD}[load]\nprofile = \"burst\"\nbase = \"1/s\"\npeak = \"5/s\"\nburst_every = \"5s\"\nburst_for = \"6s\"\nduration = \"10s\"\n"),
            9,
            "load.burst_for",
            "shorter",
        ),
        ("syntax error", format!("{GOOD_HEAD}[load]\nprofile = \"constant\nrate = \"10/s\"\n"), 5, "", "string"),
        ("key of another profile", format!("{GOOD_HEAD}{GOOD_LOAD}peak = \"5/s\"\n"), 8, "load.peak", "not used by profile"),
        ("bad success status", format!("{GOOD_HEAD}{GOOD_LOAD}[sla]\nsuccess_statuses = [\"7xx\"]\n"), 9, "sla.success_statuses", "class"),
        ("credentials in a header", format!("{GOOD_HEAD}headers = {{ Authorization = \"Bearer x\" }}\n{GOOD_LOAD}"), 4, "target.headers.Authorization", "api_key_env"),
        ("lognormal p99 below p50", format!("name = \"bad\"\n[target]\nmock = \"p\"\n{GOOD_LOAD}[[mock.providers]]\nname = \"p\"\nlatency = {{ dist = \"lognormal\", p50 = \"50ms\", p99 = \"10ms\" }}\n"), 10, "mock.providers[0].latency", "p99"),
        ("outage after the run", format!("name = \"bad\"\n[target]\nmock = \"p\"\n{GOOD_LOAD}[[mock.providers]]\nname = \"p\"\noutages = [{{ window = \"5s..6s\" }}]\n"), 10, "mock.providers[0].outages[0]", "after the run ends"),
        ("target on a class that does not exist", format!("{GOOD_HEAD}{GOOD_LOAD}[sla.class.nope]\np99 = \"1s\"\n"), 8, "sla.class.nope", "no class is named"),
        ("misspelled tier scope", format!("{GOOD_HEAD}{GOOD_LOAD}[sla.tier.defualt]\np99 = \"1s\"\n"), 8, "sla.tier.defualt", "no tier is named"),
        (
            "endpoint without a place",
            format!("name = \"bad\"\n[target]\n{GOOD_LOAD}[[tiers]]\nname = \"t\"\nmodel = \"m\"\nendpoints = [{{ region = \"us\" }}]\n"),
            10,
            "tiers[0].endpoints[0]",
            "set `url` or `mock`",
        ),
        ("a rate no process can pace", format!("{GOOD_HEAD}[load]\nprofile = \"constant\"\nrate = \"1000000000/s\"\nduration = \"1s\"\n"), 6, "load.rate", "more than one process can pace"),
        ("a window shorter than the timeline's second", format!("{GOOD_HEAD}{GOOD_LOAD}[sla]\nwindow = \"1ns\"\n"), 9, "sla.window", "at least 1s"),
        ("too many windows", format!("{GOOD_HEAD}[load]\nprofile = \"constant\"\nrate = \"1/s\"\nduration = \"2h\"\n[sla]\nwindow = \"1s\"\n"), 9, "sla.window", "7200 windows"),
        ("served-by with two sources", format!("name = \"bad\"\nserved_by = {{ header = \"x-upstream\", json = \"/model\" }}\n[target]\nmock = \"default\"\n{GOOD_LOAD}"), 2, "served_by", "one of `header`"),
        ("a failover marker that is no header", format!("name = \"bad\"\nserved_by = {{ header = \"x-upstream\", failed_over = {{ header = \"a b\" }} }}\n[target]\nmock = \"default\"\n{GOOD_LOAD}"), 2, "served_by.failed_over.header", "not a valid header"),
        ("a trace offset of 1e300", format!("{GOOD_HEAD}[load]\nprofile = \"trace\"\ntrace = \"huge.csv\"\n"), 6, "load.trace", "line 3"),
        ("a negative mean length", format!("{LLM_HEAD}input_tokens = {{ mean = -5, stddev = 1 }}\n{GOOD_LOAD}"), 11, "classes[0].input_tokens.mean", "from 1"),
        ("a negative stddev", format!("{LLM_HEAD}output_tokens = {{ mean = 50, stddev = -1 }}\n{GOOD_LOAD}"), 11, "classes[0].output_tokens.stddev", "negative"),
        ("min above max", format!("{LLM_HEAD}input_tokens = {{ mean = 50, stddev = 5, min = 100, max = 10 }}\n{GOOD_LOAD}"), 11, "classes[0].input_tokens.min", "above max"),
        ("a fractional fixed length", format!("{LLM_HEAD}input_tokens = 2.5\n{GOOD_LOAD}"), 11, "classes[0].input_tokens", "whole number"),
        ("output_tokens and max_tokens", format!("{LLM_HEAD}max_tokens = 10\noutput_tokens = 20\n{GOOD_LOAD}"), 12, "classes[0].output_tokens", "not both"),
        ("prefixes without their length", format!("{LLM_HEAD}prefixes = 3\n{GOOD_LOAD}"), 11, "classes[0].prefixes", "prefix_tokens"),
        ("a prompts file that does not exist", format!("{LLM_HEAD}prompts_file = \"no-such.jsonl\"\n{GOOD_LOAD}"), 11, "classes[0].prompts_file", "cannot read"),
        ("an unknown tokenizer", format!("{LLM_HEAD}tokenizer = \"gpt2\"\n{GOOD_LOAD}"), 11, "classes[0].tokenizer", "o200k_base"),
        ("a tokenizer file that does not exist", format!("{LLM_HEAD}tokenizer = {{ file = \"no-such-tokenizer.json\" }}\n{GOOD_LOAD}"), 11, "classes[0].tokenizer", "no-such-tokenizer.json"),
        ("a tokenizer file that is not one", format!("{LLM_HEAD}tokenizer = {{ file = \"not-a-tokenizer.json\" }}\n{GOOD_LOAD}"), 11, "classes[0].tokenizer", "not-a-tokenizer.json is not a Hugging Face tokenizer.json"),
        ("a tokenizer table without its file", format!("{LLM_HEAD}tokenizer = {{ path = \"t.json\" }}\n{GOOD_LOAD}"), 11, "classes[0].tokenizer.path", "unknown field `path`, expected `file`"),
        ("a mock's tokenizer file that does not exist", format!("name = \"bad\"\n[target]\nmock = \"p\"\n{GOOD_LOAD}[[mock.providers]]\nname = \"p\"\ntokenizer = {{ file = \"gone.json\" }}\n"), 10, "mock.providers[0].tokenizer", "gone.json"),
        ("a misspelt key", format!("{GOOD_HEAD}[load]\nprofile = \"constant\"\nrate = \"10/s\"\ndurration = \"1s\"\n"), 7, "load.durration", "did you mean `duration`?"),
        ("a burstiness of zero", format!("{GOOD_HEAD}{GOOD_LOAD}arrivals = {{ gamma = 0 }}\n"), 8, "load.arrivals", "not above 0"),
        ("gamma without its burstiness", format!("{GOOD_HEAD}{GOOD_LOAD}arrivals = \"gamma\"\n"), 8, "load.arrivals", "this choice takes a value"),
        ("a misspelt profile", format!("{GOOD_HEAD}[load]\nprofile = \"constnat\"\nrate = \"10/s\"\nduration = \"1s\"\n"), 5, "load.profile", "did you mean `constant`?"),
        ("goodput_min without goodput", format!("{GOOD_HEAD}{GOOD_LOAD}[sla]\ngoodput_min = \"95%\"\n"), 9, "sla.goodput_min", "goodput = {"),
        ("goodput without an objective", format!("{GOOD_HEAD}{GOOD_LOAD}[sla]\ngoodput = {{}}\n"), 9, "sla.goodput", "at least one objective"),
        ("a lengths row without its answer length", format!("{GOOD_HEAD}[load]\nprofile = \"trace\"\ntrace = \"lengths.jsonl\"\n"), 6, "load.trace", "output_length"),
        ("4096 prefixes of a million tokens", format!("{LLM_HEAD}prefix_tokens = 1048576\nprefixes = 4096\n{GOOD_LOAD}"), 11, "classes[0].prefix_tokens", "past load.max_request_memory (1GiB)"),
        ("million-token prompts at max_in_flight", format!("{LLM_HEAD}input_tokens = 1048576\n{GOOD_LOAD}"), 12, "load.max_in_flight", "10000 requests in flight would hold about"),
        ("a conversation without turns", format!("{LLM_HEAD}conversation = {{ think_time = \"1s\" }}\n{GOOD_LOAD}"), 11, "classes[0].conversation.turns", "how many turns"),
        ("a history of no turns", format!("{LLM_HEAD}conversation = {{ turns = 3, history = {{ turns = 0 }} }}\n{GOOD_LOAD}"), 11, "classes[0].conversation.history.turns", "at least one"),
        ("a conversation in a closed loop", format!("{LLM_HEAD}conversation = {{ turns = 3 }}\n{GOOD_LOAD}connections = 2\n"), 11, "classes[0].conversation", "closed loop"),
        ("a hang-up without its moment", format!("{LLM_HEAD}cancel = {{ share = \"5%\" }}\n{GOOD_LOAD}"), 11, "classes[0].cancel.after", "after_tokens"),
        ("a hang-up after tokens of an answer that is not streamed", format!("{LLM_HEAD}cancel = {{ share = \"5%\", after_tokens = 3 }}\n{GOOD_LOAD}"), 11, "classes[0].cancel.after_tokens", "stream = true"),
        ("a stream of embeddings", format!("{EMBED_HEAD}stream = true\n{GOOD_LOAD}"), 12, "classes[0].stream", "never streams"),
        ("an answer length of embeddings", format!("{EMBED_HEAD}output_tokens = 20\n{GOOD_LOAD}"), 12, "classes[0].output_tokens", "no output tokens"),
        ("a conversation of legacy completions", format!("{}conversation = {{ turns = 3 }}\n{GOOD_LOAD}", EMBED_HEAD.replace("embeddings", "completions")), 12, "classes[0].conversation", "\"responses\""),
        ("an endpoint OpenAI does not have", format!("{}{GOOD_LOAD}", EMBED_HEAD.replace("embeddings", "images")), 6, "tiers[0].endpoint", "chat"),
        (
            "a chat class failing over to embeddings",
            format!("{LLM_HEAD}fallbacks = [\"e\"]\n{GOOD_LOAD}[[tiers]]\nname = \"e\"\nmock = \"default\"\nendpoint = \"embeddings\"\nmodel = \"e\"\n"),
            11,
            "classes[0].fallbacks",
            "share one endpoint",
        ),
        ("no connections at all", format!("{GOOD_HEAD}{GOOD_LOAD}max_connections = 0\n"), 8, "load.max_connections", "at least 1"),
        ("a negative connection cap", format!("{GOOD_HEAD}{GOOD_LOAD}max_connections = -4\n"), 8, "load.max_connections", "invalid value"),
        ("a connection cap on a closed loop", format!("{GOOD_HEAD}{GOOD_LOAD}connections = 4\nmax_connections = 4\n"), 9, "load.max_connections", "closed loop"),
        ("streams on HTTP/1.1", format!("{GOOD_HEAD}{GOOD_LOAD}streams_per_connection = 4\n"), 8, "load.streams_per_connection", "target.http = \"2\""),
        ("no streams at all", format!("{GOOD_HEAD}http = \"2\"\n{GOOD_LOAD}streams_per_connection = 0\n"), 9, "load.streams_per_connection", "at least 1"),
        ("a scrape URL that does not read", format!("{GOOD_HEAD}{GOOD_LOAD}[[scrape]]\nurl = \"gateway/metrics\"\n"), 9, "scrape[0].url", "not a valid URL"),
        ("a scrape URL that is not http", format!("{GOOD_HEAD}{GOOD_LOAD}[[scrape]]\nurl = \"ftp://gateway/metrics\"\n"), 9, "scrape[0].url", "http:// or https://"),
        ("scrapes every 0s", format!("{GOOD_HEAD}{GOOD_LOAD}[[scrape]]\nurl = \"http://127.0.0.1:1/metrics\"\nevery = \"0s\"\n"), 10, "scrape[0].every", "at least 100ms"),
        ("an unknown reconcile key", format!("{GOOD_HEAD}{GOOD_LOAD}[[scrape]]\nurl = \"http://127.0.0.1:1/metrics\"\nreconcile = {{ reqests = \"x_total\" }}\n"), 10, "scrape[0].reconcile.reqests", "unknown field"),
        ("a reconcile selector that does not read", format!("{GOOD_HEAD}{GOOD_LOAD}[[scrape]]\nurl = \"http://127.0.0.1:1/metrics\"\nreconcile = {{ errors = \"x_total{{code=500}}\" }}\n"), 10, "scrape[0].reconcile.errors", "double quotes"),
        ("a show selector that does not read", format!("{GOOD_HEAD}{GOOD_LOAD}[[scrape]]\nurl = \"http://127.0.0.1:1/metrics\"\nshow = [\"x_total\", \"9lives\"]\n"), 10, "scrape[0].show[1]", "not a metric name"),
        ("show as one string", format!("{GOOD_HEAD}{GOOD_LOAD}[[scrape]]\nurl = \"http://127.0.0.1:1/metrics\"\nshow = \"x_total\"\n"), 10, "scrape[0].show", "expected a sequence"),
        ("nine series to show", format!("{GOOD_HEAD}{GOOD_LOAD}[[scrape]]\nurl = \"http://127.0.0.1:1/metrics\"\nshow = [{}]\n", (0..9).map(|i| format!("\"m{i}\"")).collect::<Vec<_>>().join(", ")), 10, "scrape[0].show", "at most 8 series"),
        ("a trace row without lengths after Mooncake rows", format!("{GOOD_HEAD}[load]\nprofile = \"trace\"\ntrace = \"mixed.jsonl\"\n"), 6, "load.trace", "line 3: this row has no `timestamp`"),
    ]
}

/// A tier and a class whose prompt keys the cases above get wrong (the class's keys follow from line 11).
const LLM_HEAD: &str =
    "name = \"bad\"\n[target]\n[[tiers]]\nname = \"t\"\nmock = \"default\"\nmodel = \"m\"\n[[classes]]\nname = \"c\"\nweight = 1\ntier = \"t\"\n";

/// A tier of embeddings and a class on it (the class's keys follow from line 12).
const EMBED_HEAD: &str = "name = \"bad\"\n[target]\n[[tiers]]\nname = \"t\"\nmock = \"default\"\nendpoint = \"embeddings\"\nmodel = \"m\"\n[[classes]]\nname = \"c\"\nweight = 1\ntier = \"t\"\n";

#[test]
fn each_bad_scenario_exits_2_naming_line_and_field() {
    let ws = Workspace::new();
    ws.write("huge.csv", "offset_ms\n1\n1e300\n");
    ws.write(
        "lengths.jsonl",
        "{\"timestamp\": 1, \"input_length\": 5, \"output_length\": 2}\n{\"timestamp\": 2, \"input_length\": 5}\n",
    );
    let mooncake = "{\"timestamp\": 1, \"input_length\": 5, \"output_length\": 2}\n";
    ws.write("mixed.jsonl", &format!("{mooncake}{mooncake}{{\"offset_ms\": 3}}\n"));
    ws.write("not-a-tokenizer.json", "{\"model\": {\"type\": \"GPT\"}}");
    for (i, (what, text, line, field, word)) in cases().into_iter().enumerate() {
        let file = ws.write(&format!("bad{i}.toml"), &text);
        for command in ["validate", "run"] {
            let o = std::process::Command::new(common::bin())
                .arg(command)
                .arg(&file)
                .current_dir(ws.path())
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert!(!stderr.contains("panicked"), "{what}: panicked: {stderr}");
            assert_eq!(o.status.code(), Some(2), "{what} ({command}): {stderr}");
            let name = file.display().to_string();
            assert!(stderr.contains(&format!("{name}:{line}:")), "{what}: expected {name}:{line}: in {stderr}");
            if !field.is_empty() {
                assert!(stderr.contains(&format!("field `{field}`")), "{what}: expected field `{field}` in {stderr}");
            }
            assert!(stderr.contains(word), "{what}: expected {word:?} in {stderr}");
        }
    }
}

#[test]
fn validate_prints_the_resolved_scenario_with_defaults() {
    let ws = Workspace::new();
    let file = ws.write("ok.toml", &format!("{GOOD_HEAD}{GOOD_LOAD}"));
    let o = std::process::Command::new(common::bin()).arg("validate").arg(&file).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let printed = String::from_utf8_lossy(&o.stdout);
    assert!(printed.contains("max_in_flight = 10000"), "{printed}");
    assert!(printed.contains("timeout = \"10s\""), "{printed}");
}

#[test]
fn every_shipped_scenario_is_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let o = std::process::Command::new(common::bin()).arg("validate").arg(&path).output().unwrap();
            assert_eq!(o.status.code(), Some(0), "{}: {}", path.display(), String::from_utf8_lossy(&o.stderr));
        }
    }
}
