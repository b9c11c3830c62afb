//! The metrics listener of a real cpmd (README "Operating", `runtime/src/metrics/`):
//! after the claim flow driven by sipp (A and B in a 1-to-1, A extends it to a group
//! with B and C, B's BYE on the replaced 1-to-1 relayed to A, the 1-to-1 sealed), a
//! scrape of `/metrics` over plain HTTP shows the counters moved as the flow says;
//! `/health` and `/ready` answer 200; the shipped Grafana dashboard queries only
//! exported series; `--no-metrics` binds nothing.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use cpmd_tests::{free_port, sipp_available, Cpmd, Sipp, SippRun, Transport};

const KEYS: [&str; 6] = [
    "conv",
    "2c1d0e9f-8a7b-4c6d-9e5f-4a3b2c1d0e9f",
    "contrib1",
    "8e7d6c5b-4a39-4281-9f0e-1d2c3b4a5968",
    "contrib2",
    "6f5e4d3c-2b1a-4098-8f7e-6d5c4b3a2910",
];

/// One GET on the metrics listener: (status line, body).
fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the metrics listener");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read the answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

/// The samples of an exposition: `name{labels}` → value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// Scrapes until `done` holds for the samples (gauges are refreshed once a second),
/// or panics with the last exposition after 10 s.
fn scrape_until(
    addr: SocketAddr,
    done: impl Fn(&BTreeMap<String, f64>) -> bool,
) -> BTreeMap<String, f64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = get(addr, "/metrics");
        assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
        let s = samples(&body);
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "metrics never matched:\n{body}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_scrape_after_the_claim_flow_shows_what_happened() {
    if !sipp_available() {
        return;
    }
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let mut cpmd = Cpmd::start(&["--udp", "127.0.0.1:0"]);
    let metrics = cpmd
        .bound
        .iter()
        .find(|(t, _)| t == "metrics")
        .map(|(_, a)| *a)
        .expect("metrics= in the ready line");
    assert_eq!(get(metrics, "/health").0, "HTTP/1.1 200 OK");
    assert_eq!(get(metrics, "/ready").0, "HTTP/1.1 200 OK");
    assert_eq!(get(metrics, "/nothing").0, "HTTP/1.1 404 Not Found");

    let server = cpmd.addr(Transport::Udp);
    let dir = cpmd.dir.path().to_path_buf();
    let at = |port| SocketAddr::new(ip, port);
    let (a, b, c) = (at(free_port(ip)), at(free_port(ip)), at(free_port(ip)));
    let run = |local, extra: &[&str]| {
        let mut args: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        for kv in KEYS.chunks(2) {
            args.extend(["-key".to_owned(), kv[0].to_owned(), kv[1].to_owned()]);
        }
        SippRun {
            server,
            transport: Transport::Udp,
            local,
            args,
        }
    };
    Sipp::spawn("register.xml", &run(b, &["-s", "bob", "-m", "1"]), &dir).assert_success();
    Sipp::spawn("register.xml", &run(c, &["-s", "carol", "-m", "1"]), &dir).assert_success();
    let bound = scrape_until(metrics, |s| s.get("cpmd_registrations") == Some(&2.0));
    assert_eq!(bound["cpmd_sessions{kind=\"1-to-1\"}"], 0.0);

    let b_uas = Sipp::spawn("b_claim.xml", &run(b, &["-m", "2"]), &dir);
    let c_uas = Sipp::spawn("c_claim.xml", &run(c, &["-m", "1"]), &dir);
    std::thread::sleep(Duration::from_millis(300));
    Sipp::spawn("a_claim_session_replaces.xml", &run(a, &["-m", "1"]), &dir).assert_success();
    b_uas.assert_success();
    c_uas.assert_success();

    let sealed = "cpmd_sessions_ended_total{kind=\"1-to-1\",outcome=\"sealed\"}";
    // The gauge lags the counters by up to a second: wait for both.
    let one_to_one = "cpmd_sessions{kind=\"1-to-1\"}";
    let s = scrape_until(metrics, |s| {
        s.get(sealed) == Some(&1.0) && s.get(one_to_one) == Some(&0.0)
    });
    let at_least = |name: &str, min: f64| {
        let v = s.get(name).copied().unwrap_or(0.0);
        assert!(v >= min, "{name} = {v}, want at least {min}\n{s:#?}");
    };
    // The claim: one 1-to-1 established, extended into one group, sealed once.
    assert_eq!(s["cpmd_sessions_established_total"], 1.0);
    assert_eq!(s["cpmd_groups_created_total"], 1.0);
    assert_eq!(s["cpmd_extensions_total"], 1.0);
    // cpmd's INVITEs: to B for the 1-to-1, to B and C for the group; B's BYE is
    // relayed to A; A's two INVITEs and B's BYE got 200s.
    at_least("cpmd_sip_requests_sent_total{method=\"INVITE\"}", 3.0);
    at_least("cpmd_sip_requests_sent_total{method=\"BYE\"}", 1.0);
    at_least(
        "cpmd_sip_responses_sent_total{method=\"INVITE\",code=\"200\"}",
        2.0,
    );
    at_least(
        "cpmd_sip_responses_sent_total{method=\"BYE\",code=\"200\"}",
        1.0,
    );
    at_least(
        "cpmd_sip_responses_sent_total{method=\"REGISTER\",code=\"200\"}",
        2.0,
    );
    // The group's session info (stored before the group is active) and the
    // 1-to-1's seal, answered by the store.
    at_least(
        "cpmd_store_answers_total{job=\"record\",result=\"ok\"}",
        1.0,
    );
    assert_eq!(
        s["cpmd_store_answers_total{job=\"seal\",result=\"ok\"}"],
        1.0
    );
    at_least("cpmd_store_latency_seconds_count", 2.0);
    // Every record and seal went through a commit of one batch or more.
    at_least("cpmd_store_batch_size_count", 1.0);
    at_least("cpmd_store_batch_size_sum", 2.0);
    assert_eq!(
        s["cpmd_store_answers_total{job=\"record\",result=\"failed\"}"],
        0.0
    );

    // After the flow every family has its series: the dashboard's queries match.
    dashboard_queries_only(&get(metrics, "/metrics").1);

    let status = cpmd.stop();
    assert!(
        status.success(),
        "cpmd exit after SIGTERM: {status:?}\n{}",
        cpmd.log()
    );
}

#[test]
fn no_metrics_binds_no_metrics_listener() {
    let cpmd = Cpmd::start(&["--udp", "127.0.0.1:0", "--no-metrics"]);
    assert!(
        cpmd.bound.iter().all(|(t, _)| t != "metrics"),
        "{:?}",
        cpmd.bound
    );
}

/// The Grafana dashboard shipped in `deploy/grafana/` queries only series in `body`,
/// a real exposition (a renamed metric would leave a panel silently empty).
fn dashboard_queries_only(body: &str) {
    // Series names from the `# TYPE` lines (a labelled family has no sample until
    // its first label set is used): counters' `_total`, histograms' parts.
    let mut exported = std::collections::BTreeSet::new();
    for line in body.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let (name, kind) = line.split_once(' ').expect("# TYPE name kind");
        match kind {
            "counter" => {
                exported.insert(format!("{name}_total"));
            }
            "histogram" => {
                for part in ["_bucket", "_count", "_sum"] {
                    exported.insert(format!("{name}{part}"));
                }
            }
            _ => {
                exported.insert(name.to_owned());
            }
        }
    }
    let path = cpmd_tests::workspace_root().join("deploy/grafana/cpmd-dashboard.json");
    let text = std::fs::read_to_string(&path).expect("the dashboard");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("dashboard JSON");
    let mut queried = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            let mut rest = expr;
            while let Some(at) = rest.find("cpmd_") {
                let name: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[at + name.len()..];
                queried.push(name);
            }
        }
    }
    assert!(queried.len() >= 10, "{queried:?}");
    for name in &queried {
        assert!(exported.contains(name), "{name} is not exported:\n{body}");
    }
}
