//! Stopping a run on a signal. SIGINT (Ctrl-C), SIGTERM (`timeout`, CI cancellation, `docker stop`,
//! Kubernetes) and SIGHUP (a closed terminal) all stop a run the same way: no new requests, a second for those
//! in flight, partial results written and marked incomplete, and the shell's exit code for that signal
//! (128 + its number: 130, 143, 129). A second signal ends the process at once, with the same code.

use tokio::signal::unix::{signal, Signal, SignalKind};

/// The signal that stopped a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Interrupt,
    Terminate,
    Hangup,
}

impl Stop {
    /// 128 + the signal's number, as a shell reports a process killed by it.
    pub fn exit_code(self) -> u8 {
        match self {
            Stop::Interrupt => 130,
            Stop::Terminate => 143,
            Stop::Hangup => 129,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Stop::Interrupt => "SIGINT",
            Stop::Terminate => "SIGTERM",
            Stop::Hangup => "SIGHUP",
        }
    }
}

/// The three stopping signals, caught from the moment this is made (their default action, ending the
/// process with nothing written, no longer applies).
pub struct Signals {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

impl Signals {
    /// Catches the signals; needs a running tokio runtime.
    pub fn catch() -> std::io::Result<Self> {
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// Waits for the next of them.
    pub async fn next(&mut self) -> Stop {
        tokio::select! {
            _ = self.interrupt.recv() => Stop::Interrupt,
            _ = self.terminate.recv() => Stop::Terminate,
            _ = self.hangup.recv() => Stop::Hangup,
        }
    }

    /// After the first signal: a second one ends the process at once, with the first one's code.
    pub fn exit_on_next(mut self, first: Stop) {
        tokio::spawn(async move {
            let second = self.next().await;
            eprintln!("slacheck: {} after {}: stopping now, without writing results", second.name(), first.name());
            std::process::exit(i32::from(first.exit_code()));
        });
    }
}
