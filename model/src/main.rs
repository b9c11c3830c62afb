//! `cpmd-model`: run the model checker on a configuration from the command line.
//!
//! ```text
//! cpmd-model check bfs|dfs|sim [--config NAME] [--mutation NAME] [--threads N]
//!     [--stateright-dfs]   (with one thread, stateright's DFS instead of `src/dfs.rs`)
//!     [--no-sleep|--sleep] (`src/dfs.rs` without its sleep sets, stateright's order and counts;
//!                          or with them over the ample sets too; default: with them
//!                          where `por` is off)
//! cpmd-model explore [--config NAME] [--mutation NAME] [--port P]   (web UI on 127.0.0.1)
//! cpmd-model list
//! cpmd-model shape [--config NAME] [--states N]      (what multiplies the space)
//! cpmd-model replay PATH [--domain D] [--server ADDR] [--instance N] [--key HEX]
//! ```

use std::time::Instant;

/// mimalloc instead of glibc's malloc: the checker allocates and frees a state per
/// transition, and glibc's malloc (with its consolidation of a fragmented heap) was
/// most of the profile (model/README.md, "Throughput").
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use cpmd_core::server::Mutation;
use cpmd_model::configs;
use stateright::{Checker, Model, UniformChooser};

fn usage() -> ! {
    eprintln!(
        "usage: cpmd-model check bfs|dfs|sim [--config NAME] [--mutation NAME] [--threads N] [--seconds S] [--set FIELD=VALUE]... [--progress] [--no-memo] [--stateright-dfs] [--no-sleep|--sleep]\n\
         \x20      cpmd-model explore [--config NAME] [--mutation NAME] [--port P]\n\
         \x20      cpmd-model list\n\
         \x20      cpmd-model shape [--config NAME] [--states N] [--set FIELD=VALUE]...\n\
         \x20      cpmd-model replay PATH [--domain D] [--server ADDR] [--instance N] [--key HEX]\n\
         configs: {}\nmutations: {}",
        configs::NAMES.join(", "),
        configs::MUTATIONS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
    );
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("replay") {
        replay(&args[1..]);
        return;
    }
    let mut config = "ci".to_owned();
    let mut mutation = Mutation::None;
    let mut threads = 2usize;
    let mut port = 3000u16;
    let mut seconds = 60u64;
    let mut states = 200_000u64;
    let mut progress = false;
    let mut memo = true;
    let mut own_dfs = true;
    let mut sleep: Option<bool> = None;
    let mut positional = Vec::new();
    let mut tweaks: Vec<(String, String)> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().unwrap_or_else(|| usage());
        match a.as_str() {
            "--config" => config = value(),
            "--mutation" => {
                let v = value();
                mutation = configs::mutation(&v).unwrap_or_else(|| usage());
            }
            "--threads" => threads = value().parse().unwrap_or_else(|_| usage()),
            "--port" => port = value().parse().unwrap_or_else(|_| usage()),
            "--seconds" => seconds = value().parse().unwrap_or_else(|_| usage()),
            "--states" => states = value().parse().unwrap_or_else(|_| usage()),
            "--progress" => progress = true,
            // The server steps computed every time, not looked up (model/src/model/memo.rs).
            "--no-memo" => memo = false,
            "--stateright-dfs" => own_dfs = false,
            // The own DFS without its sleep sets (`src/dfs.rs`): stateright's search;
            // or with them over the ample sets too, where they cost more than they
            // save (model/README.md, "Session 15").
            "--no-sleep" => sleep = Some(false),
            "--sleep" => sleep = Some(true),
            "--set" => {
                let v = value();
                let (k, x) = v.split_once('=').unwrap_or_else(|| usage());
                tweaks.push((k.to_owned(), x.to_owned()));
            }
            _ => positional.push(a.clone()),
        }
    }
    let Some(mut setup) = configs::by_name(&config) else {
        usage()
    };
    for (k, v) in &tweaks {
        if !configs::tweak(&mut setup, k, v) {
            usage()
        }
    }
    let setup = setup.with_mutation(mutation);
    let model = if memo {
        cpmd_model::CpmModel::new(setup)
    } else {
        cpmd_model::CpmModel::without_memo(setup)
    };
    match positional
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["list"] => {
            for name in configs::NAMES {
                println!("{name}: {:?}", configs::by_name(name));
            }
        }
        ["shape"] => shape(&model, &config, states),
        ["explore"] => {
            let addr = format!("127.0.0.1:{port}");
            println!("exploring {config} on http://{addr}");
            model.checker().threads(threads).serve(addr);
        }
        ["check", how] => {
            let start = Instant::now();
            let builder = model.clone().checker().threads(threads);
            // One thread: the model's own depth-first search, stateright's order and
            // counts without its per-state lookups (`src/dfs.rs`).
            let own = (*how == "dfs" && threads == 1 && own_dfs)
                .then(|| {
                    let mut report = |unique: usize, total: usize, depth: usize| {
                        let secs = start.elapsed().as_secs_f64();
                        eprintln!(
                            "progress: {unique} unique states, {total} states, depth {depth}, \
                             {secs:.0} s, {:.0} states/s",
                            total as f64 / secs.max(1e-9)
                        );
                    };
                    let every = progress
                        .then_some((&mut report as &mut dyn FnMut(usize, usize, usize), 10.0));
                    cpmd_model::dfs::dfs(&model, sleep.unwrap_or(!model.setup.por), every)
                })
                .flatten();
            let (unique, total, depth, discoveries) = match (*how, own) {
                ("dfs", Some(found)) => own_summary(&model, found),
                ("bfs", _) => summary(&model, watch(builder.spawn_bfs(), progress).join()),
                ("dfs", None) => summary(&model, watch(builder.spawn_dfs(), progress).join()),
                ("sim", _) => summary(
                    &model,
                    builder
                        .timeout(std::time::Duration::from_secs(seconds))
                        .spawn_simulation(0, UniformChooser)
                        .join(),
                ),
                _ => usage(),
            };
            let secs = start.elapsed().as_secs_f64();
            println!(
                "config {config}, mutation {mutation:?}: {unique} unique states, {total} states, \
                 depth {depth}, {secs:.1} s, {:.0} states/s",
                total as f64 / secs.max(1e-9)
            );
            let mut failed = false;
            let reached: Vec<(&str, (), bool)> =
                discoveries.iter().map(|(n, _, f)| (*n, (), *f)).collect();
            if *how == "sim" {
                println!("simulation: {total} states visited ({unique} unique), {seconds} s");
            }
            for (name, chart, is_failure) in discoveries {
                if is_failure {
                    failed = true;
                    println!("\nVIOLATED: {name}\n{chart}");
                } else {
                    println!("reached: {name}");
                }
            }
            // The safety properties with no counterexample in what was visited.
            for p in model.properties() {
                let violated = reached.iter().any(|(n, _, f)| *f && *n == p.name);
                if p.expectation.discovery_is_failure() && !violated {
                    println!("held: {}", p.name);
                }
            }
            if failed {
                std::process::exit(1);
            }
        }
        _ => usage(),
    }
}

/// `cpmd-model replay PATH`: replays an input trace through a fresh core and prints
/// the message-sequence chart. The configuration is the trace's `start` line when it
/// has one (authentication off: no passwords recorded); else the runtime defaults
/// (domain example.com, no users list, no auth) with the server address read back
/// from the inputs; such a trace has no seed (its tokens will not match unless
/// `--key` gives it). The flags override either.
fn replay(args: &[String]) {
    use cpmd_model::replay::{replay, Trace};
    let mut path = None;
    let mut domain_flag: Option<String> = None;
    let mut server: Option<std::net::SocketAddr> = None;
    let mut instance: Option<u64> = None;
    let mut key: Option<[u8; 32]> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().unwrap_or_else(|| usage());
        match a.as_str() {
            "--domain" => domain_flag = Some(value()),
            "--server" => server = Some(value().parse().unwrap_or_else(|_| usage())),
            "--instance" => instance = Some(value().parse().unwrap_or_else(|_| usage())),
            "--key" => {
                key =
                    Some(cpmd_core::server::Seed::key_from_hex(&value()).unwrap_or_else(|| usage()))
            }
            p if path.is_none() && !p.starts_with("--") => path = Some(p.to_owned()),
            _ => usage(),
        }
    }
    let Some(path) = path else { usage() };
    let trace = Trace::load(std::path::Path::new(&path)).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    let mut config = match &trace.start {
        Some(start) => {
            if start.auth {
                eprintln!(
                    "note: the recorded server had digest authentication on; the passwords \
                     are not in the trace, so the replay runs without it"
                );
            }
            let mut start = start.clone();
            if let Some(d) = domain_flag {
                start.domain = d;
            }
            start.config()
        }
        None => cpmd_core::server::Config::new(domain_flag.as_deref().unwrap_or("example.com")),
    };
    let read_back = || match trace.start {
        Some(_) => None,
        None => trace.server_addr(),
    };
    if let Some(addr) = server.or_else(read_back) {
        config.advertised_host = addr.ip().to_string();
        config.advertised_port = addr.port();
    }
    if let Some(i) = instance {
        config.seed.instance = i;
    }
    match (key, &trace.start) {
        (Some(key), _) => config.seed.key = key,
        (None, Some(_)) => {}
        (None, None) => eprintln!(
            "note: no start line and no --key: the seed is unknown, so server-minted \
             tokens will not match"
        ),
    }
    println!(
        "replaying {path}: {} inputs, server {}:{}, seed {:?}",
        trace.len(),
        config.advertised_host,
        config.advertised_port,
        config.seed
    );
    let out = replay(config, &trace);
    print!("{}", out.chart());
    println!(
        "{} of {} inputs consumed, {} transmitted, {} persisted, {} sealed, {} events",
        out.consumed,
        trace.len(),
        out.transmits().len(),
        out.persisted().len(),
        out.sealed().len(),
        out.events().len()
    );
}

/// `cpmd-model shape`: per kind of action, the transitions and new states of the
/// first `states` unique states, and the distinct values of each part of the state
/// (model/README.md, "The combined configuration").
fn shape(model: &cpmd_model::CpmModel, config: &str, states: u64) {
    let start = Instant::now();
    let s = cpmd_model::shape::walk(model, states);
    println!(
        "config {config}: {} unique states{} in {:.1} s",
        s.unique,
        if s.exhausted { " (exhausted)" } else { "" },
        start.elapsed().as_secs_f64()
    );
    for (part, n) in &s.distinct {
        println!("distinct {part}: {n}");
    }
    let mut kinds: Vec<_> = s.by_kind.iter().collect();
    kinds.sort_by_key(|(_, t)| std::cmp::Reverse(t.new));
    println!("{:>9} {:>9}  action", "new", "taken");
    for (k, t) in kinds {
        println!("{:>9} {:>9}  {k}", t.new, t.taken);
    }
}

/// With `--progress`, prints the checker's counts to stderr every 10 s until it is
/// done (long exhaustive runs, e.g. `--config combined`).
fn watch<C: Checker<cpmd_model::CpmModel>>(c: C, progress: bool) -> C {
    if progress {
        c.report(&mut Progress(Instant::now()))
    } else {
        c
    }
}

struct Progress(Instant);

impl stateright::report::Reporter<cpmd_model::CpmModel> for Progress {
    fn report_checking(&mut self, data: stateright::report::ReportData) {
        let secs = self.0.elapsed().as_secs_f64();
        eprintln!(
            "progress: {} unique states, {} states, depth {}, {secs:.0} s, {:.0} states/s",
            data.unique_states,
            data.total_states,
            data.max_depth,
            data.total_states as f64 / secs.max(1e-9)
        );
    }

    fn report_discoveries(
        &mut self,
        _: &cpmd_model::CpmModel,
        _: std::collections::BTreeMap<
            &'static str,
            stateright::report::ReportDiscovery<cpmd_model::CpmModel>,
        >,
    ) {
    }

    fn delay(&self) -> std::time::Duration {
        std::time::Duration::from_secs(10)
    }
}

type Found = Vec<(&'static str, String, bool)>;

fn summary(
    model: &cpmd_model::CpmModel,
    c: impl Checker<cpmd_model::CpmModel>,
) -> (usize, usize, usize, Found) {
    let found = charts(model, |name| c.discovery(name));
    (
        c.unique_state_count(),
        c.state_count(),
        c.max_depth(),
        found,
    )
}

/// `summary` of the model's own depth-first search (`src/dfs.rs`).
fn own_summary(
    model: &cpmd_model::CpmModel,
    mut f: cpmd_model::dfs::Found,
) -> (usize, usize, usize, Found) {
    let found = charts(model, |name| {
        let at = f.discoveries.iter().position(|(n, _)| *n == name)?;
        Some(f.discoveries.swap_remove(at).1)
    });
    (f.unique, f.states, f.max_depth, found)
}

type Path = stateright::Path<cpmd_model::model::State, cpmd_model::model::Action>;

/// Each property's discovery as a chart, in the properties' order; "not reached"
/// printed for each `sometimes` never reached.
fn charts(
    model: &cpmd_model::CpmModel,
    mut discovery: impl FnMut(&'static str) -> Option<Path>,
) -> Found {
    let props = model.properties();
    let mut found: Found = Vec::new();
    for p in &props {
        match discovery(p.name) {
            Some(path) => found.push((
                p.name,
                cpmd_model::msc::chart(model, &path),
                p.expectation.discovery_is_failure(),
            )),
            None if !p.expectation.discovery_is_failure() => {
                found.push((p.name, "NOT REACHED".into(), false));
                println!("not reached: {}", p.name);
            }
            None => {}
        }
    }
    found.retain(|(_, chart, failure)| *failure || chart != "NOT REACHED");
    found
}
