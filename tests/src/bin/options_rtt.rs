//! `options_rtt`: the no-attack baseline of `scripts/bench-latency`. Pings a cpmd UDP
//! listener with OPTIONS (the liveness prober of the attack tests,
//! `cpmd_tests::liveness::Pinger`, one every 100 ms) for a number of seconds and
//! appends each round trip to a file as `LABEL MICROSECONDS`.
//!
//! ```text
//! options_rtt 127.0.0.1:5060 10 baseline rtt.txt
//! ```

use std::time::{Duration, Instant};

use cpmd_tests::liveness::{LatencyRecord, Pinger, PING_EVERY};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [server, seconds, label, out] = args.as_slice() else {
        eprintln!("usage: options_rtt SERVER SECONDS LABEL FILE");
        std::process::exit(2);
    };
    let server = server.parse().expect("SERVER: ip:port");
    let seconds: u64 = seconds.parse().expect("SECONDS: a number");
    let mut pinger = Pinger::new(server);
    let mut record = LatencyRecord::to(Some(out.into()), label);
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        match pinger.ping() {
            Ok(rtt) => record.add(rtt),
            Err(e) => {
                eprintln!("options_rtt: {e}");
                std::process::exit(1);
            }
        }
        std::thread::sleep(PING_EVERY);
    }
}
