//! The generator's own machine: the open-files limit (raised at start), the CPU this process used, the number
//! of cores and the load average. These are the evidence for saying that a result was the generator's, not
//! the target's, and for a hint that fits the cause. A leaf: it imports nothing of slacheck.

use serde::{Deserialize, Serialize};

/// What the generator's machine did during a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// CPU seconds (user and system) this process used during the run.
    pub cpu_s: f64,
    /// Wall-clock seconds of the run.
    pub wall_s: f64,
    pub cores: usize,
    /// The one-minute load average at the end of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_average: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_files: Option<OpenFiles>,
    /// Requests not sent because no socket could be opened (EMFILE, ENFILE).
    #[serde(default)]
    pub not_sent_open_files: u64,
    /// Requests not sent because their bodies would have passed `load.max_request_memory` of bodies in flight.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_sent_memory: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Usage {
    /// Cores' worth of CPU the process used on average.
    pub fn cores_used(&self) -> f64 {
        self.cpu_s / self.wall_s.max(1e-9)
    }
}

/// Why the generator fell behind, in a sentence that fits the evidence, and what to do; `None` when it did
/// not. `not_sent` counts every request not sent, `lagging` whether dispatch lag passed its limit.
pub fn hint(not_sent: u64, max_in_flight: usize, lagging: bool, usage: &Usage) -> Option<String> {
    let files = usage.not_sent_open_files;
    if files > 0 {
        let limit = usage.open_files.map(|o| format!(" ({})", o.soft)).unwrap_or_default();
        return Some(format!(
            "{files} requests could not open a socket: the open-files limit{limit} was reached; raise `ulimit -n` \
             (the hard limit) or lower load.max_in_flight"
        ));
    }
    let memory = usage.not_sent_memory;
    if memory > 0 {
        return Some(format!(
            "{memory} requests were not sent: their prompts would have passed load.max_request_memory, the most \
             that request bodies in flight may hold while the target is slow to answer; raise it, lower \
             load.max_in_flight, or shorten the prompts"
        ));
    }
    let (used, cores) = (usage.cores_used(), usage.cores);
    let saturated = used >= 0.8 * cores as f64;
    let busy = usage.load_average.filter(|l| *l > cores as f64);
    if not_sent > 0 {
        // A starved process reads its answers late, so requests stay out longer: more room would not help.
        let out = format!(
            "{not_sent} requests were not sent: load.max_in_flight ({max_in_flight}) requests were already out"
        );
        return Some(match (saturated, busy) {
            (true, _) => format!(
                "{out} while the generator used {used:.1} of {cores} CPU cores, reading answers late: it needs \
                 more CPU; shard the load over processes or machines"
            ),
            (false, Some(load)) => format!(
                "{out} while the machine was busy (load average {load:.1} on {cores} cores), delaying the generator's \
                 reading of answers: run on a quieter machine"
            ),
            (false, None) => format!("{out}; raise it, or shard the load over several processes"),
        });
    }
    if !lagging {
        return None;
    }
    Some(match busy {
        _ if saturated => format!(
            "the generator used {used:.1} of {cores} CPU cores: it needs more CPU; shard the load over processes or machines"
        ),
        Some(load) => format!(
            "the machine was busy (load average {load:.1} on {cores} cores) while the generator used {used:.1} CPU cores: \
             other processes delayed it; run on a quieter machine"
        ),
        None => format!(
            "the generator fell behind although it used {used:.1} of {cores} CPU cores and the machine was not busy: \
             pacing was delayed (a pause or a slow wake-up); run again, or shard the load"
        ),
    })
}

/// The open-files limit after [`raise_open_files`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenFiles {
    pub soft: u64,
    pub hard: u64,
}

/// Raises the soft limit on open files to the hard limit (every request in flight holds a socket, and the
/// in-process mock another), and returns the limits now in force.
pub fn raise_open_files() -> std::io::Result<OpenFiles> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    Ok(OpenFiles { soft: limit.rlim_cur, hard: limit.rlim_max })
}

/// The file descriptors a run needs at the least: one socket per request in flight, and a few dozen for the
/// runtime, files and listeners. (In-process mock providers hold the other end of each connection too; the
/// warning is for the generator's own need, so that a default run does not warn on a common limit.)
pub fn files_needed(max_in_flight: usize) -> u64 {
    max_in_flight as u64 + 64
}

/// Whether an I/O error anywhere in `error`'s chain is the process (EMFILE) or the system (ENFILE) running out
/// of file descriptors: a failure of the generator, which never reached the target.
pub fn out_of_files(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(io.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
                return true;
            }
        }
        source = e.source();
    }
    false
}

/// File descriptors held back while requests run, and given back to write the results: when sockets use up
/// the limit, the result files can still be opened.
pub struct Reserve(Vec<std::fs::File>);

impl Reserve {
    /// Holds `count` descriptors (on `/dev/null`), as many as can be had.
    pub fn hold(count: usize) -> Self {
        Reserve((0..count).map_while(|_| std::fs::File::open("/dev/null").ok()).collect())
    }

    /// Gives them back.
    pub fn release(self) {
        drop(self.0);
    }
}

/// CPU time (user and system) this process has used so far, in seconds.
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes only into the zeroed struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return 0.0;
        }
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// The machine's one-minute load average (Linux), or `None` where it cannot be read.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

/// The cores this process may run on.
pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let limits = raise_open_files().unwrap();
        assert_eq!(limits.soft, limits.hard);
    }

    #[test]
    fn emfile_and_enfile_are_found_deep_in_a_chain_and_others_are_not() {
        #[derive(Debug)]
        struct Wrapper(std::io::Error);
        impl std::fmt::Display for Wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "client error")
            }
        }
        impl std::error::Error for Wrapper {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        for (errno, expected) in [(libc::EMFILE, true), (libc::ENFILE, true), (libc::ECONNREFUSED, false)] {
            let e = Wrapper(std::io::Error::from_raw_os_error(errno));
            assert_eq!(out_of_files(&e), expected, "errno {errno}");
        }
    }

    #[test]
    fn the_hint_follows_the_evidence() {
        let usage = |cpu_s, load_average, not_sent_open_files| Usage {
            cpu_s,
            wall_s: 10.0,
            cores: 2,
            load_average,
            open_files: Some(OpenFiles { soft: 1024, hard: 1024 }),
            not_sent_open_files,
            not_sent_memory: 0,
        };
        let files = hint(988, 2000, true, &usage(1.0, None, 988)).unwrap();
        assert!(files.starts_with("988 requests could not open a socket") && files.contains("(1024)"), "{files}");
        let in_flight = hint(5, 2000, true, &usage(1.0, None, 0)).unwrap();
        assert!(in_flight.contains("max_in_flight (2000)") && in_flight.contains("raise it"), "{in_flight}");
        // The same cap reached while the generator used 16 of its 20 CPU-seconds (0.8 of 2 cores): the CPU.
        let starved = hint(5, 2000, true, &usage(16.0, None, 0)).unwrap();
        assert!(starved.contains("used 1.6 of 2 CPU cores") && !starved.contains("raise it"), "{starved}");
        let below = hint(5, 2000, true, &usage(15.9, None, 0)).unwrap();
        assert!(below.contains("raise it"), "just below 80% of the cores: {below}");
        // Below it, on a machine with a load average of 2.5 on 2 cores: other processes delayed the generator.
        let busy = hint(5, 2000, true, &usage(15.9, Some(2.5), 0)).unwrap();
        assert!(busy.contains("machine was busy (load average 2.5 on 2 cores)") && !busy.contains("raise it"));
        assert!(hint(5, 2000, true, &usage(15.9, Some(2.0), 0)).unwrap().contains("raise it"), "2.0 is not past 2");
        let memory = hint(7, 2000, true, &Usage { not_sent_memory: 7, ..usage(1.0, None, 0) }).unwrap();
        assert!(memory.starts_with("7 requests were not sent: their prompts") && memory.contains("max_request_memory"));
        assert_eq!(hint(0, 2000, false, &usage(19.0, Some(9.0), 0)), None, "no lag, nothing to explain");
        // 18 CPU-seconds in 10 s on 2 cores: 1.8 cores, past 80% of them.
        assert!(hint(0, 10, true, &usage(18.0, None, 0)).unwrap().contains("used 1.8 of 2 CPU cores"));
        // 15 CPU-seconds: 1.5 cores, below 80%; a load average of 3 on 2 cores is a busy machine.
        assert!(hint(0, 10, true, &usage(15.0, Some(3.0), 0)).unwrap().contains("machine was busy"));
        assert!(hint(0, 10, true, &usage(15.0, Some(2.0), 0)).unwrap().contains("was not busy"));
    }

    #[test]
    fn cpu_time_grows_with_work() {
        let before = cpu_seconds();
        let mut x = 0u64;
        let began = std::time::Instant::now();
        while began.elapsed() < std::time::Duration::from_millis(50) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        assert!(cpu_seconds() > before);
    }
}
