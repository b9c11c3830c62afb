//! The command line: `--help`, and a configuration file whose listeners use port 0
//! (the ready line reports the bound addresses; flags override the file).

use std::process::Command;

use cpmd_tests::{cpmd_bin, Cpmd, Transport};

#[test]
fn help_lists_the_flags() {
    let out = Command::new(cpmd_bin())
        .arg("--help")
        .output()
        .expect("run cpmd --help");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--config",
        "--udp",
        "--tcp",
        "--data-dir",
        "--ready-file",
        "--domain",
    ] {
        assert!(text.contains(flag), "{flag} missing from --help:\n{text}");
    }
}

#[test]
fn config_file_listeners_and_flag_override() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("cpmd.toml");
    std::fs::write(
        &file,
        "domain = \"example.org\"\n[listen]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\n",
    )
    .expect("write config");
    let config = file.to_str().expect("utf-8 path");
    let mut from_file = Cpmd::start(&["--config", config]);
    let kinds: Vec<&str> = from_file.bound.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(kinds, ["udp", "tcp"]);
    assert_ne!(from_file.addr(Transport::Udp).port(), 0);
    assert!(from_file.stop().success());

    let mut overridden = Cpmd::start(&[
        "--config",
        config,
        "--tcp",
        "[::1]:0",
        "--udp",
        "127.0.0.1:0",
    ]);
    let kinds: Vec<&str> = overridden.bound.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        kinds,
        ["tcp", "udp"],
        "flags replace [listen], in command-line order"
    );
    assert!(overridden.addr(Transport::Tcp).is_ipv6());
    assert!(overridden.stop().success());
}
