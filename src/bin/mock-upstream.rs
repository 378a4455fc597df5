//! `mock-upstream --config providers.toml`: the fake providers on fixed loopback ports, for a real gateway to fail
//! over between. Built here, in the `slacheck` package, so that `cargo install slacheck` and the release archives
//! carry it beside `slacheck`; the command line itself is `mock_upstream::cli`.

fn main() -> std::process::ExitCode {
    mock_upstream::cli::main()
}
