//! What an answer says about who served it: a served-by header that may list the upstreams a gateway tried,
//! and a failover marker's value.

/// A served-by header that lists the upstreams a gateway tried, as nginx's `$upstream_addr` does after a retry
/// (`"A, B"`; `" : "` separates internal redirects): the last item served, and how many were tried before it
/// (each a failed attempt, so more than none is a failover). A single name comes back as it is.
pub(crate) fn served_list(value: &str) -> (Option<String>, usize) {
    let items = value.split(" : ").flat_map(|group| group.split(',')).map(str::trim).filter(|i| !i.is_empty());
    let mut last = None;
    let mut before = 0;
    for item in items {
        before += usize::from(last.is_some());
        last = Some(item);
    }
    (last.map(str::to_string), before)
}

/// A failover marker's value: a count above 0 (LiteLLM's attempted fallbacks), or `true`.
pub(super) fn marks_failover(value: &[u8]) -> bool {
    let text = String::from_utf8_lossy(value);
    let text = text.trim();
    text.eq_ignore_ascii_case("true") || text.parse::<u64>().is_ok_and(|n| n > 0)
}
