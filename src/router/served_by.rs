//! What an answer says about who served it: a served-by header that may list the upstreams a gateway tried,
//! and a failover marker's value.

/// The most earlier items of a served-by list kept per answer: a gateway retries a few times, and a longer list
/// is counted in full (see [`ServedList::tried_beyond`]) but not named.
pub(crate) const MAX_TRIED: usize = 8;

/// What a served-by header names: the upstream that served, and those a gateway tried before it.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ServedList {
    pub served: Option<String>,
    /// The earlier items, in order, each a failed attempt on that upstream (at most [`MAX_TRIED`]).
    pub tried: Vec<String>,
    /// Earlier items past [`MAX_TRIED`].
    pub tried_beyond: usize,
}

impl ServedList {
    /// Whether the gateway tried another upstream first: a failover it reported, as its marker would.
    pub fn failed_over(&self) -> bool {
        !self.tried.is_empty() || self.tried_beyond > 0
    }
}

/// A served-by header that lists the upstreams a gateway tried, as nginx's `$upstream_addr` does after a retry
/// (`"A, B"`; `" : "` separates internal redirects): the last item served, and the earlier ones were tried before
/// it and failed. A single name comes back as it is.
pub(crate) fn served_list(value: &str) -> ServedList {
    let items = value.split(" : ").flat_map(|group| group.split(',')).map(str::trim).filter(|i| !i.is_empty());
    let mut list = ServedList::default();
    for item in items {
        if let Some(earlier) = list.served.replace(item.to_string()) {
            match list.tried.len() < MAX_TRIED {
                true => list.tried.push(earlier),
                false => list.tried_beyond += 1,
            }
        }
    }
    list
}

/// A failover marker's value: a count above 0 (LiteLLM's attempted fallbacks), or `true`.
pub(super) fn marks_failover(value: &[u8]) -> bool {
    let text = String::from_utf8_lossy(value);
    let text = text.trim();
    text.eq_ignore_ascii_case("true") || text.parse::<u64>().is_ok_and(|n| n > 0)
}
