//! What a checked scenario derives: tier orders, windows, tiers and mock providers, worked out by hand.

use super::*;

fn loaded(text: &str) -> LoadedScenario {
    let source = format!("name = \"s\"\n{text}");
    LoadedScenario { scenario: toml::from_str(&source).unwrap(), path: "dir/s.toml".into(), source }
}

const THREE_TIERS: &str = "[load]\nprofile = \"constant\"\nrate = \"1/s\"\nduration = \"10s\"\n\
    [[tiers]]\nname = \"a\"\nmock = \"p\"\nmodel = \"m\"\n[[tiers]]\nname = \"b\"\nmock = \"p\"\nmodel = \"m\"\n\
    [[tiers]]\nname = \"c\"\nmock = \"p\"\nmodel = \"m\"\n";

#[test]
fn each_class_tries_its_tier_then_the_chain_after_it_or_its_own_fallbacks() {
    let text = format!(
        "[target]\n{THREE_TIERS}[failover]\nchain = [\"a\", \"b\", \"c\"]\n\
         [[classes]]\nname = \"x\"\nweight = 1\ntier = \"b\"\n\
         [[classes]]\nname = \"y\"\nweight = 1\ntier = \"a\"\nfallbacks = [\"c\"]\n\
         [[classes]]\nname = \"z\"\nweight = 1\ntier = \"c\"\n"
    );
    // x starts at b and goes on down the chain to c; y names its own fallback; z is last in the chain.
    assert_eq!(loaded(&text).class_orders(), [vec![1, 2], vec![0, 2], vec![2]]);
    // No classes: one, from the first tier of the chain.
    let text = format!("[target]\n{THREE_TIERS}[failover]\nchain = [\"b\", \"a\"]\n");
    assert_eq!(loaded(&text).class_orders(), [vec![1, 0]]);
    assert_eq!(loaded(&format!("[target]\n{THREE_TIERS}")).class_orders(), [vec![0]]);
}

#[test]
fn windows_cover_the_run_and_the_last_one_is_cut_at_its_end() {
    let every = loaded("[target]\nmock = \"p\"\n[load]\nprofile = \"constant\"\nrate = \"1/s\"\nduration = \"10s\"\n[sla]\nwindow = \"4s\"\n");
    assert_eq!(every.sla_windows(Duration::from_secs(10)), [(0.0, 4.0), (4.0, 8.0), (8.0, 10.0)]);
    // Burst windows: the last `burst_for` of every `burst_every`: 8..10 and 18..20 of a 20 s run.
    let burst = loaded(
        "[target]\nmock = \"p\"\n[load]\nprofile = \"burst\"\nbase = \"1/s\"\npeak = \"5/s\"\nburst_every = \"10s\"\n\
         burst_for = \"2s\"\nduration = \"20s\"\n[sla]\nwindow = \"burst\"\n",
    );
    assert_eq!(burst.sla_windows(Duration::from_secs(20)), [(8.0, 10.0), (18.0, 20.0)]);
    assert_eq!(burst.sla_windows(Duration::from_secs(9)), [(8.0, 9.0)], "cut at a shorter run's end");
    let none = loaded("[target]\nmock = \"p\"\n[load]\nprofile = \"constant\"\nrate = \"1/s\"\nduration = \"10s\"\n");
    assert!(none.sla_windows(Duration::from_secs(10)).is_empty());
}

#[test]
fn without_tiers_there_is_one_named_after_the_mock_or_the_target() {
    let load = "[load]\nprofile = \"constant\"\nrate = \"1/s\"\nduration = \"1s\"\n";
    let mock = loaded(&format!("[target]\nmock = \"p\"\n{load}"));
    assert_eq!(mock.tiers(), [("p".to_string(), Some(&"p".to_string()))]);
    assert_eq!(mock.tier_and_class_names(), (vec!["p".to_string()], vec!["default".to_string()]));
    let url = loaded(&format!("[target]\nurl = \"http://127.0.0.1:1/v1/chat/completions\"\n{load}"));
    assert_eq!(url.tiers(), [("target".to_string(), None)]);
    assert!(url.mock_providers().is_empty(), "a real URL starts no mock");
    // A mock target with no [[mock.providers]] gets the default provider.
    assert_eq!(mock.mock_providers().iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["default"]);
    let tiers = loaded(&format!("[target]\n{THREE_TIERS}"));
    assert_eq!(tiers.tier_and_class_names().0, ["a", "b", "c"]);
    assert_eq!(tiers.resolve(Path::new("trace.csv")), Path::new("dir/trace.csv"));
}
