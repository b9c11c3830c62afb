//! IMAP over TLS with third-party clients (filled in below).
