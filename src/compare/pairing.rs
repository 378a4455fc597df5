//! Whether two runs make a fair pair: each ran to its end (a run stopped early covers only part of its schedule),
//! and both are the same test: the same scenario name, profile and rate, target (its API too), SLA targets and
//! request classes, as their summaries record them. What the mock does is not part of the test's identity: a slower mock is exactly what a
//! comparison is for.

use super::Side;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Reads one aspect of a test from summary.json's `scenario`.
type Aspect = fn(&Value) -> Value;

/// What makes two runs the same test.
const ASPECTS: [(&str, Aspect); 5] = [
    ("scenario name", |s| s["name"].clone()),
    ("profile and rate", load_shape),
    ("target", target),
    ("SLA targets", |s| s["sla"].clone()),
    // What each request is: its prompt and answer lengths, hang-ups, conversations, the tokenizer.
    ("request classes", |s| s["classes"].clone()),
];

/// `[load]` without what changes how long or how precisely the test runs, not what it asks for: the duration
/// (`--duration`), the seed of the arrivals, and the generator's own limits.
fn load_shape(scenario: &Value) -> Value {
    let mut load = scenario["load"].as_object().cloned().unwrap_or_default();
    for key in ["duration", "seed", "max_in_flight", "lag_limit"] {
        load.remove(key);
    }
    Value::Object(load)
}

/// Where the requests went: the target's URL or mock and its API (`endpoint`), and each tier's.
fn target(scenario: &Value) -> Value {
    let mut out = Map::new();
    for key in ["url", "mock", "endpoint"] {
        if let Some(v) = scenario["target"].get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    let tiers = scenario["tiers"].as_array().into_iter().flatten().map(|tier| {
        let keep = ["name", "url", "mock", "endpoints", "endpoint"]
            .iter()
            .filter_map(|k| Some((k.to_string(), tier.get(*k)?.clone())));
        Value::Object(keep.collect())
    });
    let tiers: Vec<Value> = tiers.collect();
    if !tiers.is_empty() {
        out.insert("tiers".into(), Value::Array(tiers));
    }
    Value::Object(out)
}

/// The sides whose run was interrupted (`"complete": false` in its summary), by label ("before", "after").
pub(super) fn incomplete(before: &Side, after: &Side) -> Vec<String> {
    let stopped = |side: &Side| side.summary.as_ref().is_some_and(|s| s["complete"] == false);
    [("before", before), ("after", after)].into_iter().filter(|(_, s)| stopped(s)).map(|(l, _)| l.to_string()).collect()
}

/// What differs between the two runs' tests, one phrase per aspect, e.g.
/// `profile and rate (rate: 2000/s before, 500/s after)`; `None` when a side has no summary to tell.
pub(super) fn differences(before: &Side, after: &Side) -> Option<Vec<String>> {
    let (b, a) = (&before.summary.as_ref()?["scenario"], &after.summary.as_ref()?["scenario"]);
    if b.is_null() || a.is_null() {
        return None;
    }
    let phrases = ASPECTS.iter().filter_map(|(name, read)| {
        let (vb, va) = (read(b), read(a));
        (vb != va).then(|| format!("{name} ({})", what_differs(&vb, &va)))
    });
    Some(phrases.collect())
}

/// The settings that differ (the first three), each with its two values, e.g. `tiers[0].url: A before, B
/// after`; for a plain value, its two values.
fn what_differs(before: &Value, after: &Value) -> String {
    let (mut b, mut a) = (BTreeMap::new(), BTreeMap::new());
    flatten(before, String::new(), &mut b);
    flatten(after, String::new(), &mut a);
    let mut paths: Vec<&String> = b.keys().chain(a.keys()).collect();
    paths.sort();
    paths.dedup();
    let differing: Vec<String> = paths
        .into_iter()
        .filter(|p| b.get(*p) != a.get(*p))
        .map(|p| {
            let values = format!("{} before, {} after", shown(b.get(p)), shown(a.get(p)));
            if p.is_empty() {
                values
            } else {
                format!("{p}: {values}")
            }
        })
        .collect();
    let more = if differing.len() > 3 { format!("; and {} more", differing.len() - 3) } else { String::new() };
    format!("{}{more}", differing.into_iter().take(3).collect::<Vec<_>>().join("; "))
}

/// Every leaf of `value` by its path (`a.b[2].c`; the empty path for a plain value).
fn flatten<'a>(value: &'a Value, path: String, out: &mut BTreeMap<String, &'a Value>) {
    let join = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    match value {
        Value::Object(map) => map.iter().for_each(|(k, v)| flatten(v, join(k), out)),
        Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| flatten(v, format!("{path}[{i}]"), out)),
        leaf => {
            out.insert(path, leaf);
        }
    }
}

/// A value in a phrase: text as it is, anything else as JSON (at most 60 characters), absent as "none".
fn shown(v: Option<&&Value>) -> String {
    let text = match v.copied() {
        None | Some(Value::Null) => return "none".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn side(summary: Option<Value>) -> Side {
        Side { label: "x".into(), log: Default::default(), summary }
    }

    fn run(name: &str, rate: &str, url: &str, p99: &str) -> Value {
        json!({ "complete": true, "scenario": {
            "name": name,
            "target": { "url": url, "method": "POST", "timeout": "10s" },
            "load": { "profile": "constant", "rate": rate, "duration": "30s", "seed": 7, "max_in_flight": 10000,
                      "lag_limit": "10ms" },
            "sla": { "p99": p99, "insufficient_data": "fail" },
        } })
    }

    #[test]
    fn the_same_test_at_another_length_seed_or_timeout_is_the_same_test() {
        let a = run("gate", "500/s", "http://a/v1", "800ms");
        let mut b = a.clone();
        b["scenario"]["load"]["duration"] = json!("2m");
        b["scenario"]["load"]["seed"] = json!(8);
        b["scenario"]["load"]["max_in_flight"] = json!(5);
        b["scenario"]["load"]["lag_limit"] = json!("1ms");
        b["scenario"]["target"]["timeout"] = json!("1s");
        b["scenario"]["description"] = json!("another text");
        b["scenario"]["mock"] = json!({ "providers": [{ "name": "p", "latency": { "p50": "99ms" } }] });
        assert_eq!(differences(&side(Some(a)), &side(Some(b))), Some(vec![]));
    }

    #[test]
    fn each_aspect_that_differs_is_named_with_both_values() {
        let a = side(Some(run("gate", "2000/s", "http://a/v1", "800ms")));
        let b = side(Some(run("other", "500/s", "http://b/v1", "1s")));
        assert_eq!(
            differences(&a, &b).unwrap(),
            [
                "scenario name (gate before, other after)",
                "profile and rate (rate: 2000/s before, 500/s after)",
                "target (url: http://a/v1 before, http://b/v1 after)",
                "SLA targets (p99: 800ms before, 1s after)",
            ]
        );
    }

    #[test]
    fn a_changed_profile_names_each_key_that_differs_and_counts_the_rest() {
        let mut burst = run("gate", "1/s", "u", "1s");
        burst["scenario"]["load"] = json!({ "profile": "burst", "base": "10000/min", "peak": "50000/min",
                                              "burst_every": "10s", "burst_for": "4s" });
        let constant = run("gate", "500/s", "u", "1s");
        let phrases = differences(&side(Some(burst)), &side(Some(constant))).unwrap();
        assert_eq!(
            phrases,
            ["profile and rate (base: 10000/min before, none after; burst_every: 10s before, none after; burst_for: \
              4s before, none after; and 3 more)"]
        );
    }

    #[test]
    fn tiers_are_part_of_the_target() {
        let tiers =
            |url: &str| json!([{ "name": "primary", "url": url, "price": 1.0 }, { "name": "fallback", "mock": "f" }]);
        let (mut a, mut b) = (run("g", "1/s", "u", "1s"), run("g", "1/s", "u", "1s"));
        a["scenario"]["tiers"] = tiers("http://one");
        b["scenario"]["tiers"] = tiers("http://two");
        let phrases = differences(&side(Some(a.clone())), &side(Some(b))).unwrap();
        assert_eq!(phrases, ["target (tiers[0].url: http://one before, http://two after)"]);
        let long = format!("http://{}", "x".repeat(80));
        let mut d = a.clone();
        d["scenario"]["tiers"][1]["url"] = json!(long);
        let phrases = differences(&side(Some(a.clone())), &side(Some(d))).unwrap();
        let cut = format!("target (tiers[1].url: none before, {}… after)", &long[..60]);
        assert_eq!(phrases, [cut], "a long value is cut");
        // A price is not where requests go.
        let mut c = a.clone();
        c["scenario"]["tiers"][0]["price"] = json!(2.0);
        assert_eq!(differences(&side(Some(a)), &side(Some(c))), Some(vec![]));
    }

    #[test]
    fn another_api_or_another_request_is_another_test() {
        let chat = run("starter", "5/s", "http://g/v1", "1s");
        let mut embeddings = chat.clone();
        embeddings["scenario"]["target"]["endpoint"] = json!("embeddings");
        assert_eq!(
            differences(&side(Some(chat.clone())), &side(Some(embeddings))).unwrap(),
            ["target (endpoint: none before, embeddings after)"]
        );
        let (mut plain, mut hanging) = (chat.clone(), chat);
        plain["scenario"]["classes"] = json!([{ "name": "c", "input_tokens": 50 }]);
        hanging["scenario"]["classes"] = json!([{ "name": "c", "input_tokens": 50, "cancel": { "share": "10%" } }]);
        assert_eq!(
            differences(&side(Some(plain)), &side(Some(hanging))).unwrap(),
            ["request classes ([0].cancel.share: none before, 10% after)"]
        );
    }

    #[test]
    fn without_both_summaries_nothing_can_be_said() {
        let a = side(Some(run("g", "1/s", "u", "1s")));
        assert_eq!(differences(&a, &side(None)), None);
        assert_eq!(differences(&side(None), &a), None);
        assert_eq!(differences(&a, &side(Some(json!({ "duration_s": 3.0 })))), None, "a summary without its scenario");
    }

    #[test]
    fn a_side_is_incomplete_only_when_its_summary_says_so() {
        let stopped = side(Some(json!({ "complete": false })));
        let whole = side(Some(json!({ "complete": true })));
        assert_eq!(incomplete(&stopped, &whole), ["before"]);
        assert_eq!(incomplete(&whole, &stopped), ["after"]);
        assert_eq!(incomplete(&stopped, &stopped), ["before", "after"]);
        assert!(incomplete(&whole, &side(None)).is_empty(), "an interval log alone says nothing of it");
    }
}
