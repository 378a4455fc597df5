//! Episodes from hand-made request sequences: every expected time is worked out from the sequence itself.

use super::*;

/// `n` requests due 5 ms apart from `from_ms`, each answered 2 ms later by `upstream` (`ok`, first attempt).
fn steady(from_ms: u64, n: u64, upstream: &str, ok: bool) -> Vec<Observation> {
    (0..n)
        .map(|i| Observation {
            intended: Duration::from_millis(from_ms + 5 * i),
            done: Duration::from_millis(from_ms + 5 * i + 2),
            class: 0,
            ok,
            retried: false,
            failed_over: false,
            upstream: NAMES.iter().position(|n| *n == upstream).unwrap() as u16,
        })
        .collect()
}

/// The upstreams of these tests, numbered in this order by [`tracker`].
const NAMES: [&str; 3] = ["a", "b", "unknown"];

fn tracker(rules: EpisodeRules) -> EpisodeTracker {
    let mut t = EpisodeTracker::new(rules);
    for name in NAMES {
        t.name(name);
    }
    t
}

fn rules(primary: Option<&str>) -> EpisodeRules {
    EpisodeRules {
        class_primary: primary.map(|p| (vec![p.to_string()], "the class's first tier")),
        recover_after: 20,
        numbers: (0, 1),
        infer_failover: false,
    }
}

/// Class 0's primary is `a`, class 1's is `b`.
fn two_classes() -> EpisodeRules {
    EpisodeRules { class_primary: Some((vec!["a".into(), "b".into()], "the class's first tier")), ..rules(None) }
}

/// The episodes of `requests`, given in intended order and ending in that order.
fn track(rules: EpisodeRules, requests: Vec<Observation>) -> (Option<Primary>, Vec<Episode>) {
    track_numbered(rules, requests.into_iter().enumerate().map(|(i, o)| (i as u64, o)))
}

/// The episodes of numbered requests, given in the order they ended.
fn track_numbered(
    rules: EpisodeRules,
    requests: impl IntoIterator<Item = (u64, Observation)>,
) -> (Option<Primary>, Vec<Episode>) {
    let mut t = tracker(rules);
    for (number, o) in requests {
        t.ended(number, Some(o));
    }
    let found = t.finish().0;
    (found.primary, found.list)
}

/// A primary `a` for 1 s, an outage from 1,000 ms to 2,000 ms in which the gateway served from `b` after
/// three failures, then `a` again for 1 s: 200 requests in the outage.
fn outage() -> Vec<Observation> {
    let mut all = steady(0, 200, "a", true);
    all.extend(steady(1_000, 3, "unknown", false));
    all.extend(steady(1_015, 197, "b", true));
    all.extend(steady(2_000, 200, "a", true));
    all
}

#[test]
fn an_outage_is_one_episode_timed_from_the_requests() {
    let (_, episodes) = track(rules(Some("a")), outage());
    assert_eq!(episodes.len(), 1, "{episodes:?}");
    let e = &episodes[0];
    assert_eq!((e.start_ms, e.end_ms, e.recovered, e.isolated), (1_000.0, 2_000.0, true, false));
    assert_eq!((e.requests, e.failed), (200, 3));
    assert_eq!(e.served_by, BTreeMap::from([("b".to_string(), 197), ("unknown".to_string(), 3)]));
    // The first success from b was due at 1,015 ms and done at 1,017 ms.
    assert_eq!(e.time_to_failover_ms, Some(17.0));
    // Failures due at 1,000, 1,005 and 1,010 ms; the last done at 1,012 ms.
    assert_eq!(e.error_burst_ms, 12.0);
    // The last anomaly (b) was due at 1,995 ms; a served again from 2,000 ms.
    assert_eq!(e.time_to_recover_ms, Some(5.0));
}

/// The failovers inferred from `requests` (in intended order) with a primary chosen by majority.
fn inferred(requests: Vec<Observation>) -> InferredFailovers {
    let mut t = tracker(EpisodeRules { infer_failover: true, ..rules(None) });
    for (i, o) in requests.into_iter().enumerate() {
        t.ended(i as u64, Some(o));
    }
    t.finish().1
}

#[test]
fn requests_served_by_another_upstream_than_the_primary_failed_over_unless_already_said() {
    // The outage: 197 requests served by b (due from 1,015 to 1,995 ms), 3 that no one named.
    let mut requests = outage();
    // Two of b's were retried by slacheck first (the second, done ok, is a rescue on a retry), and one was
    // already marked by the gateway: it is counted where the gateway said so, not here.
    requests[210].retried = true;
    requests[211].retried = true;
    requests[211].ok = false;
    requests[212].failed_over = true;
    let found = inferred(requests);
    assert_eq!((found.failed_over, found.rescued), (196, 195));
    assert_eq!((found.rescued_first_attempt, found.rescued_on_retry), (194, 1));
    assert_eq!(
        (found.first_at, found.last_at),
        (Some(Duration::from_millis(1_015)), Some(Duration::from_millis(1_995)))
    );
    assert_eq!(found.by_second, BTreeMap::from([(1, 196)]));
    // Without the rule, nothing is inferred.
    let mut t = tracker(rules(None));
    for (i, o) in outage().into_iter().enumerate() {
        t.ended(i as u64, Some(o));
    }
    assert_eq!(t.finish().1, InferredFailovers::default());
    // Neither `unknown` nor the upstreams past the cap name who served; with no primary, no one is elsewhere.
    assert!(!served_elsewhere(Some("a"), "unknown") && !served_elsewhere(Some("a"), "(other)"));
    assert!(served_elsewhere(Some("a"), "b") && !served_elsewhere(Some("a"), "a") && !served_elsewhere(None, "b"));
}

#[test]
fn the_order_of_completion_does_not_change_the_episodes() {
    let mut shuffled: Vec<(u64, Observation)> = outage().into_iter().enumerate().map(|(i, o)| (i as u64, o)).collect();
    // Completion order: the reverse within every block of 10.
    for chunk in shuffled.chunks_mut(10) {
        chunk.reverse();
    }
    let in_order = track(rules(Some("a")), outage());
    assert_eq!(in_order.1.len(), 1);
    assert_eq!(track_numbered(rules(Some("a")), shuffled), in_order);
}

#[test]
fn a_request_is_held_only_until_every_one_scheduled_before_it_has_ended() {
    let mut t = tracker(rules(Some("a")));
    let o = |i: u64, ok: bool| Observation { ok, ..steady(5 * i, 1, "a", true).remove(0) };
    t.ended(1, Some(o(1, false)));
    t.ended(2, Some(o(2, true)));
    assert_eq!(t.held(), 2, "request 0 is still out");
    // Request 0 was not sent: it says nothing, and the two after it go on.
    t.ended(0, None);
    assert_eq!(t.held(), 0);
    for i in 3..100_000 {
        t.ended(i, Some(o(i, true)));
        assert_eq!(t.held(), 0, "requests that end in order are not kept");
    }
    assert!(t.waiting.capacity() < 16, "{}", t.waiting.capacity());
    // A number given twice cannot come from a run; it is still counted, at once: a second failure, a second
    // episode.
    t.ended(1, Some(o(1, false)));
    assert_eq!(t.held(), 0);
    let found = t.finish().0;
    assert_eq!(found.list.len(), 2);
    assert_eq!((found.list[0].start_ms, found.list[0].requests, found.list[0].failed), (5.0, 1, 1));
    assert_eq!((found.list[1].requests, found.list[1].failed), (1, 1));
}

#[test]
fn a_shard_waits_only_for_its_own_requests() {
    // Shard 3 of 4 sends requests 3, 7, 11, …: request 7 waits for 3 and for nothing else.
    let mut t = tracker(EpisodeRules { numbers: (3, 4), ..rules(Some("a")) });
    let o = |i: u64| steady(5 * i, 1, "a", true).remove(0);
    t.ended(7, Some(o(7)));
    assert_eq!(t.held(), 1);
    t.ended(3, Some(o(3)));
    assert_eq!(t.held(), 0);
    t.ended(11, Some(o(11)));
    assert_eq!(t.held(), 0);
}

#[test]
fn a_lone_failure_is_an_isolated_episode_of_one_request() {
    let mut all = steady(0, 100, "a", true);
    all[50].ok = false;
    let (_, episodes) = track(rules(Some("a")), all);
    assert_eq!(episodes.len(), 1);
    let e = &episodes[0];
    assert_eq!((e.start_ms, e.end_ms, e.requests, e.failed, e.isolated), (250.0, 255.0, 1, 1, true));
    assert_eq!((e.error_burst_ms, e.time_to_failover_ms, e.time_to_recover_ms), (2.0, None, Some(5.0)));
}

#[test]
fn two_outages_stay_two_episodes_unless_the_primary_did_not_recover_between_them() {
    let gap = |n: u64| {
        let mut all = steady(0, 50, "b", true);
        all.extend(steady(250, n, "a", true));
        all.extend(steady(250 + 5 * n, 50, "b", true));
        all.extend(steady(500 + 5 * n, 50, "a", true));
        all
    };
    // 20 successes of a in between end the first: two episodes. 19 do not: one.
    let (_, two) = track(rules(Some("a")), gap(20));
    assert_eq!(two.iter().map(|e| (e.start_ms, e.requests)).collect::<Vec<_>>(), [(0.0, 50), (350.0, 50)]);
    let (_, one) = track(rules(Some("a")), gap(19));
    assert_eq!(one.len(), 1);
    assert_eq!((one[0].requests, one[0].served_by["a"], one[0].served_by["b"]), (119, 19, 100));
    // The 19 that `a` served at once between the two were untouched; the 20 that ended the first are not in it.
    assert_eq!((one[0].by_primary, two[0].by_primary, two[1].by_primary), (19, 0, 0));
}

#[test]
fn requests_their_own_primary_served_during_another_classs_outage_are_said_to_be_untouched() {
    // Class 0's primary `a` fails over to `b` for 100 requests; class 1, whose primary is `b`, sends one request
    // after each of them, served by `b` as always. Class 1's last request begins the run of 20 successes that
    // ends the episode (with 19 of class 0's from `a`), so it is not in it: 199 requests, all served by `b`, 99
    // of them class 1's, untouched.
    let rules = two_classes();
    let mut all = steady(0, 20, "a", true);
    for o in steady(100, 100, "b", true) {
        let class_1 = Observation { class: 1, intended: o.intended + Duration::from_millis(1), ..o };
        all.extend([o, class_1]);
    }
    all.extend(steady(600, 20, "a", true));
    let (_, episodes) = track(rules, all);
    assert_eq!(episodes.len(), 1, "{episodes:?}");
    let e = &episodes[0];
    assert_eq!((e.requests, e.failed, e.by_primary), (199, 0, 99));
    assert_eq!(e.served_by, BTreeMap::from([("b".to_string(), 199)]));
    assert_eq!((e.start_ms, e.end_ms), (100.0, 596.0));
}

#[test]
fn retries_are_anomalies_even_when_the_primary_answered() {
    let mut all = steady(0, 100, "a", true);
    all[10].retried = true;
    let (_, episodes) = track(rules(Some("a")), all);
    assert_eq!(episodes.iter().map(|e| (e.start_ms, e.failed)).collect::<Vec<_>>(), [(50.0, 0)]);
}

#[test]
fn without_a_named_primary_the_majority_of_the_first_successes_is_chosen_and_said() {
    let (primary, episodes) = track(rules(None), outage());
    let primary = primary.unwrap();
    assert_eq!(primary.names, [Some("a".to_string())]);
    assert_eq!(primary.chosen_by, "most served of the first 100 successes");
    assert_eq!(episodes.len(), 1);
    assert_eq!((episodes[0].start_ms, episodes[0].end_ms), (1_000.0, 2_000.0));
}

#[test]
fn an_episode_still_open_at_the_end_is_not_recovered() {
    let mut all = steady(0, 200, "a", true);
    all.extend(steady(1_000, 10, "b", true));
    let (_, episodes) = track(rules(Some("a")), all);
    let e = &episodes[0];
    assert_eq!(
        (e.start_ms, e.end_ms, e.recovered, e.requests, e.time_to_recover_ms),
        (1_000.0, 1_045.0, false, 10, None)
    );
}

#[test]
fn past_the_cap_episodes_are_only_counted() {
    // A failure every 40th request: each is an isolated episode (39 clean requests end it).
    let mut all = steady(0, 40 * (MAX_EPISODES as u64 + 5), "a", true);
    for (i, o) in all.iter_mut().enumerate() {
        o.ok = i % 40 != 0;
    }
    let mut t = tracker(rules(Some("a")));
    for (i, o) in all.into_iter().enumerate() {
        t.ended(i as u64, Some(o));
    }
    let found = t.finish().0;
    assert_eq!((found.list.len(), found.beyond_cap), (MAX_EPISODES, 5));
    assert!(found.list.iter().all(|e| e.isolated && e.requests == 1));
}

#[test]
fn a_recovery_served_by_two_classes_primaries_leaves_each_count_whole() {
    // Class 0's primary is `a`, class 1's is `b`. One failure, then 20 successes alternating between the
    // classes, each by its own primary: the run that ends the episode is not part of it, for either upstream.
    let rules = two_classes();
    let mut all = steady(0, 10, "a", true);
    all.extend(steady(50, 1, "unknown", false));
    for (i, o) in steady(55, 20, "a", true).into_iter().enumerate() {
        let (class, upstream) = if i % 2 == 0 { (0, 0) } else { (1, 1) };
        all.push(Observation { class, upstream, ..o });
    }
    all.extend(steady(155, 10, "a", true));
    let (_, episodes) = track(rules, all);
    assert_eq!(episodes.len(), 1, "{episodes:?}");
    let e = &episodes[0];
    assert_eq!((e.requests, e.failed), (1, 1));
    assert_eq!(e.served_by, BTreeMap::from([("unknown".to_string(), 1)]));
    assert_eq!(e.by_primary, 0);
    assert_eq!((e.start_ms, e.end_ms), (50.0, 55.0));
}

/// `open()`, as the live gauge reads it: a lone failure is not an open episode, a second one before the primary
/// recovers is, and `recover_after` (20) successes of the primary close it.
#[test]
fn an_episode_is_open_from_its_second_anomaly_until_the_primary_recovers() {
    let mut t = tracker(rules(Some("a")));
    let mut seen = Vec::new();
    let sequence = [steady(0, 5, "a", true), steady(25, 1, "a", false), steady(30, 1, "a", false)];
    let recovery = steady(35, 20, "a", true);
    for (i, o) in sequence.into_iter().flatten().chain(recovery).enumerate() {
        t.ended(i as u64, Some(o));
        seen.push(t.open());
    }
    // By hand: closed for the 5 successes and the first failure (request 5), open from the second failure
    // (request 6) through the 19th success after it, closed at the 20th (request 26).
    let expected: Vec<bool> = (0..27).map(|i| (6..26).contains(&i)).collect();
    assert_eq!(seen, expected);
}
