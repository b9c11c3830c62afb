//! # cpmd
//!
//! The cpmd server binary. Until the runtime issue lands it only prints its version
//! and what it will become; it opens no sockets yet.

fn main() {
    println!(
        "cpmd {}: the runtime (SIP sockets, storage, IMAP) is not built yet; see README.md",
        env!("CARGO_PKG_VERSION")
    );
}
