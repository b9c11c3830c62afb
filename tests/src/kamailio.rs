//! Starting Kamailio (Debian package) in the foreground with a configuration a
//! test wrote: the MSRP relay of `msrp.rs` and the SIP load balancer of
//! `dispatcher.rs` differ only in their configuration. Not a Kamailio wrapper: the
//! callers own the child (and kill it when dropped) and read its log.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Writes `cfg` to `run/kamailio.cfg` and starts Kamailio on it (foreground, 4
/// MiB private and 32 MiB shared memory, runtime files in `run`), its output to
/// `run/kamailio.log`: the child and that log's path.
pub fn spawn(run: &Path, cfg: &str) -> (Child, PathBuf) {
    let cfg_path = run.join("kamailio.cfg");
    std::fs::write(&cfg_path, cfg).expect("write kamailio.cfg");
    let log = run.join("kamailio.log");
    let out = std::fs::File::create(&log).expect("kamailio log");
    let child = Command::new("kamailio")
        .arg("-f")
        .arg(&cfg_path)
        .args(["-DD", "-E", "-m", "32", "-M", "4"])
        .arg("-Y")
        .arg(run)
        .arg("-P")
        .arg(run.join("kamailio.pid"))
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(out)
        .spawn()
        .expect("spawn kamailio");
    (child, log)
}

/// Stops a Kamailio [`spawn`] started: SIGTERM, so its main process stops the
/// workers it forked before it exits (a SIGKILL of the main process leaves them
/// running, holding their ports, after the test is gone), then SIGKILL if it is
/// still there after 5 s.
pub fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    if crate::wait_for(child, Duration::from_secs(5)).is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
}
