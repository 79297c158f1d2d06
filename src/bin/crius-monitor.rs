//! `crius-monitor`: the per-container monitor (the conmon role). The daemon starts one per
//! container; see [`crius::monitor`] for its command line, its sync pipe, its control socket
//! and its exit record.
//!
//! One monitor per container, rather than one for all: a monitor then has one child, one log
//! and one exit file, keeps no state that would need recovering, a crash affects one container
//! only, and the daemon can restart freely while containers run.

fn main() -> std::process::ExitCode {
    crius::monitor::main()
}
