//! `claim_bench`: the load generator of `bench/claim.sh`. It runs N flows of the
//! whole claim (`flow.rs`: a 1-to-1 with 10 MSRP messages each way, its extension to
//! a 3-party group with the BYE handshake, 10 group messages, everyone leaves) with
//! C flows at a time against a running cpmd, and prints how many passed and how fast.
//!
//! Each of the C workers owns three users (`<tag>a<w>`, `<tag>b<w>`, `<tag>c<w>`),
//! each on its own SIP TCP connection, registered before the clock starts (cpmd's
//! authentication off: a request is attributed to the user registered on its flow,
//! REG-2). A worker runs flows one after the other until N were started in all; a
//! flow that fails is counted, its users are replaced by fresh ones (so nothing it
//! left behind reaches the next flow) and the worker goes on.
//!
//! ```text
//! claim_bench --sip 127.0.0.1:5060 --flows 2000 --concurrency 64 [--threads 2]
//!             [--tag r1] [--domain example.com] [--timeout 10]
//! ```
//! Output: one JSON line `{"flows","concurrency","ok","failed","seconds",
//! "flows_per_s","messages","sessions"}` where `messages` and `sessions` are what the
//! passing flows had acknowledged as stored (30 messages, two sealed sessions each);
//! the first failures go to stderr. Exit status 1 when a flow failed.

mod flow;
mod msrp;
mod sip;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use flow::Trio;
use sip::{Failure, SipUser};

struct Args {
    sip: SocketAddr,
    flows: u64,
    concurrency: usize,
    threads: usize,
    tag: String,
    domain: String,
    timeout: Duration,
}

fn usage() -> ! {
    eprintln!(
        "usage: claim_bench --sip ADDR [--flows N] [--concurrency C] [--threads T] \
         [--tag TAG] [--domain DOMAIN] [--timeout SECONDS]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        sip: "127.0.0.1:5060".parse().expect("address"),
        flows: 100,
        concurrency: 8,
        threads: 1,
        tag: format!("r{}", std::process::id()),
        domain: "example.com".into(),
        timeout: Duration::from_secs(10),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--sip" => args.sip = value.parse().unwrap_or_else(|_| usage()),
            "--flows" => args.flows = value.parse().unwrap_or_else(|_| usage()),
            "--concurrency" => args.concurrency = value.parse().unwrap_or_else(|_| usage()),
            "--threads" => args.threads = value.parse().unwrap_or_else(|_| usage()),
            "--tag" => args.tag = value,
            "--domain" => args.domain = value,
            "--timeout" => {
                args.timeout = Duration::from_secs(value.parse().unwrap_or_else(|_| usage()))
            }
            _ => usage(),
        }
    }
    if args.concurrency == 0 || args.threads == 0 {
        usage()
    }
    args
}

/// Counters shared by every worker.
#[derive(Default)]
struct Totals {
    next: AtomicU64,
    ok: AtomicU64,
    failed: AtomicU64,
    messages: AtomicU64,
}

/// Connects and registers worker `w`'s three users (generation `generation`).
async fn trio(args: &Args, w: usize, generation: u64) -> Result<Trio, Failure> {
    let name = |role: &str| format!("{}{role}{w}g{generation}", args.tag);
    let mut users = Vec::new();
    for role in ["a", "b", "c"] {
        let mut u = SipUser::connect(args.sip, name(role), &args.domain, args.timeout).await?;
        u.register().await?;
        users.push(u);
    }
    let c = users.pop().expect("c");
    let b = users.pop().expect("b");
    let a = users.pop().expect("a");
    Ok(Trio { a, b, c })
}

const SHOWN_FAILURES: u64 = 5;

async fn worker(args: Arc<Args>, totals: Arc<Totals>, w: usize, mut trio: Trio) {
    let mut generation = 0;
    loop {
        let n = totals.next.fetch_add(1, Ordering::AcqRel);
        if n >= args.flows {
            return;
        }
        let id = format!("{}-{n}", args.tag);
        match flow::run(&mut trio, &id, &args.domain).await {
            Ok(stored) => {
                totals.ok.fetch_add(1, Ordering::AcqRel);
                totals
                    .messages
                    .fetch_add(stored.messages as u64, Ordering::AcqRel);
                for u in [&mut trio.a, &mut trio.b, &mut trio.c] {
                    u.clear();
                }
            }
            Err(why) => {
                if totals.failed.fetch_add(1, Ordering::AcqRel) < SHOWN_FAILURES {
                    eprintln!("claim_bench: flow {id} failed: {why}");
                }
                generation += 1;
                match self::trio(&args, w, generation).await {
                    Ok(t) => trio = t,
                    Err(why) => {
                        eprintln!("claim_bench: worker {w} gives up: {why}");
                        return;
                    }
                }
            }
        }
    }
}

fn main() {
    let args = Arc::new(parse_args());
    let totals = Arc::new(Totals::default());
    let threads = args.threads.min(args.concurrency);
    let ready = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (args, totals, ready) =
                (Arc::clone(&args), Arc::clone(&totals), Arc::clone(&ready));
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                rt.block_on(async move {
                    let mine: Vec<usize> = (t..args.concurrency).step_by(threads).collect();
                    let mut trios = Vec::new();
                    for &w in &mine {
                        match trio(&args, w, 0).await {
                            Ok(tr) => trios.push((w, tr)),
                            Err(why) => eprintln!("claim_bench: worker {w} not started: {why}"),
                        }
                    }
                    ready.wait();
                    let tasks: Vec<_> = trios
                        .into_iter()
                        .map(|(w, tr)| {
                            tokio::spawn(worker(Arc::clone(&args), Arc::clone(&totals), w, tr))
                        })
                        .collect();
                    for task in tasks {
                        let _ = task.await;
                    }
                });
            })
        })
        .collect();
    ready.wait();
    let started = Instant::now();
    for h in handles {
        h.join().expect("worker thread");
    }
    let seconds = started.elapsed().as_secs_f64();
    let ok = totals.ok.load(Ordering::Acquire);
    let failed = totals.failed.load(Ordering::Acquire);
    let not_run = args.flows.saturating_sub(ok + failed);
    println!(
        "{{\"flows\":{},\"concurrency\":{},\"ok\":{ok},\"failed\":{},\"seconds\":{seconds:.3},\
         \"flows_per_s\":{:.0},\"messages\":{},\"sessions\":{}}}",
        args.flows,
        args.concurrency,
        failed + not_run,
        ok as f64 / seconds,
        totals.messages.load(Ordering::Acquire),
        2 * ok,
    );
    if failed + not_run > 0 {
        std::process::exit(1);
    }
}
