//! Kamailio as the SIP load balancer in front of two cpmd nodes (specs/scale-out.md,
//! README "Scaling out"): the Debian package's `dispatcher` module, its
//! configuration written by the test on loopback ports. Terminals talk only to it;
//! it sends alice's initial requests to node 1 and everyone else's to node 2, and
//! relays requests to terminals and in-dialog requests by their Request-URI.
//!
//! What it is *not*: the MSRP relay of the MSRP tests ([`crate::msrp::Kamailio`]);
//! this one carries SIP only.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Child;

use crate::free_port;

/// The balancer's configuration: UDP on `port`; initial requests to the domain
/// go to dispatcher set 1 (node 1) when from alice, else set 2 (node 2); the rest
/// (requests to terminals, in-dialog requests, ACKs of 2xx) by Request-URI.
const KAMAILIO_CFG: &str = r#"#!KAMAILIO
debug=2
log_stderror=yes
fork=yes
children=2
auto_aliases=no
listen=udp:127.0.0.1:@PORT@

loadmodule "kex.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "textops.so"
loadmodule "dispatcher.so"

modparam("dispatcher", "list_file", "@LIST@")

request_route {
    if (!mf_process_maxfwd_header("10")) {
        sl_send_reply("483", "Too Many Hops");
        exit;
    }
    if (is_method("CANCEL")) {
        if (t_check_trans()) {
            t_relay();
        }
        exit;
    }
    if (is_method("ACK")) {
        if (t_check_trans()) {
            t_relay();
            exit;
        }
        if (has_totag()) {
            t_relay();
        }
        exit;
    }
    t_check_trans();
    if (!has_totag() && $rd == "example.com") {
        if ($fU == "alice") {
            $var(set) = 1;
        } else {
            $var(set) = 2;
        }
        if (!ds_select_dst("$var(set)", "4")) {
            sl_send_reply("503", "No Node");
            exit;
        }
        xlog("L_INFO", "dispatch $rm from $fU to $du
");
    }
    if (!t_relay()) {
        sl_reply_error();
    }
    exit;
}
"#;

/// Kamailio as the SIP load balancer in front of `nodes`; killed when dropped.
pub struct Balancer {
    child: Child,
    /// Where terminals send their SIP (UDP).
    pub addr: SocketAddr,
    log: PathBuf,
}

impl Balancer {
    /// Starts Kamailio (foreground, killed on drop) with `nodes[0]` as set 1 and
    /// `nodes[1]` as set 2; its files go to `dir/kamailio`.
    pub fn start(dir: &Path, nodes: [SocketAddr; 2]) -> Self {
        let ip = nodes[0].ip();
        let addr = SocketAddr::new(ip, free_port(ip));
        let run = dir.join("kamailio");
        std::fs::create_dir_all(&run).expect("kamailio dir");
        let list = run.join("dispatcher.list");
        std::fs::write(&list, format!("1 sip:{}\n2 sip:{}\n", nodes[0], nodes[1]))
            .expect("dispatcher.list");
        let cfg = KAMAILIO_CFG
            .replace("@PORT@", &addr.port().to_string())
            .replace("@LIST@", list.to_str().expect("utf-8 path"));
        let (child, log) = crate::kamailio::spawn(&run, &cfg);
        Self { child, addr, log }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Balancer {
    /// SIGTERM first (`kamailio::stop`): a SIGKILL left the workers running.
    fn drop(&mut self) {
        crate::kamailio::stop(&mut self.child);
    }
}
