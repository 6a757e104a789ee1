//! The binary's command line. Besides what it checks, this test is why `cargo test --workspace`
//! builds the `attune-chaos` binary (cargo builds a package's binaries for its integration
//! tests), and the target scripts/chaos.sh names to build with the same features: after the
//! workspace's test build it finds the binary fresh and builds nothing.

use std::process::Command;

fn chaos() -> Command {
    Command::new(env!("CARGO_BIN_EXE_attune-chaos"))
}

#[test]
fn help_names_the_quick_run_and_the_seed() {
    let o = chaos().arg("--help").output().unwrap();

    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("--quick") && text.contains("--seed"),
        "{text}"
    );
}

#[test]
fn a_run_without_its_programs_is_refused_before_anything_starts() {
    let o = chaos().arg("--quick").output().unwrap();

    assert_eq!(o.status.code(), Some(2), "clap's usage error");
    assert!(String::from_utf8_lossy(&o.stderr).contains("--cloud-bin"));
}
