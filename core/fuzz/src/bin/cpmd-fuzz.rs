//! `cpmd-fuzz`: one binary for every fuzz target.
//!
//! * Built with the `afl` feature (`cargo afl build -p cpmd-fuzz --features afl`),
//!   `cpmd-fuzz TARGET` is an AFL++ persistent-mode target (scripts/fuzz runs it).
//! * Built without it, `cpmd-fuzz TARGET FILE...` replays files through the target
//!   (a crash reproduces as a panic with its message), `cpmd-fuzz show FILE...`
//!   prints what the server did with each record of a `server` script, and
//!   `cpmd-fuzz seed DIR` writes the seed scripts of the `server` target.

#[cfg(feature = "afl")]
fn main() {
    let name = std::env::args().nth(1).unwrap_or_default();
    let Some(target) = cpmd_fuzz::Target::from_name(&name) else {
        eprintln!("usage: cpmd-fuzz TARGET (one of: {})", names());
        std::process::exit(2);
    };
    afl::fuzz!(|data: &[u8]| target.run(data));
}

#[cfg(not(feature = "afl"))]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (first, files) = args
        .split_first()
        .map_or(("", &[][..]), |(f, r)| (f.as_str(), r));
    match first {
        "seed" => {
            let [dir] = files else {
                usage();
            };
            for seed in cpmd_fuzz::seeds::all() {
                let path = std::path::Path::new(dir).join(seed.name);
                std::fs::write(&path, &seed.bytes)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
        }
        "show" => {
            for file in files {
                show(&read(file));
            }
        }
        name => {
            let Some(target) = cpmd_fuzz::Target::from_name(name) else {
                usage();
            };
            for file in files {
                target.run(&read(file));
                println!("{file}: ok");
            }
        }
    }
}

#[cfg(not(feature = "afl"))]
fn read(file: &str) -> Vec<u8> {
    std::fs::read(file).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[cfg(not(feature = "afl"))]
fn usage() -> ! {
    eprintln!(
        "usage: cpmd-fuzz TARGET FILE... | show FILE... | seed DIR (targets: {})",
        names()
    );
    std::process::exit(2);
}

/// Prints each record of a `server` script and what the server put out for it.
#[cfg(not(feature = "afl"))]
fn show(data: &[u8]) {
    use cpmd_fuzz::script::{self, Op, Output};
    let records = script::parse(data);
    let auth = records.first().is_some_and(|r| r.op == Op::Auth);
    let mut driver = script::Driver::new(auth);
    for record in records {
        println!("%% {} ({} bytes)", record.op.words(), record.body.len());
        for output in driver.step(record.op, record.body) {
            match output {
                Output::Command(cpmd_core::server::Command::Transmit { flow, message }) => {
                    let text = cpmd_core::wire::encode_message(message);
                    println!(
                        "  -> {} {}",
                        flow.peer,
                        String::from_utf8_lossy(&text).replace("\r\n", "\n     ")
                    );
                }
                Output::Command(cpmd_core::server::Command::MsrpSend { conn, bytes }) => {
                    println!(
                        "  -> msrp {conn} {}",
                        String::from_utf8_lossy(bytes).replace("\r\n", "\n     ")
                    );
                }
                Output::Command(other) => println!("  {other:?}"),
                Output::Event(event) => println!("  event {event:?}"),
            }
        }
    }
}

fn names() -> String {
    cpmd_fuzz::Target::ALL.map(|t| t.name()).join(", ")
}
