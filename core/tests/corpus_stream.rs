//! Stream framing corpus: the files of `tests/corpus/stream/` are raw TCP byte
//! streams; each test pushes them into a [`StreamDecoder`] (whole, and split at
//! every possible point) and checks the frames that come out and that each frame
//! decodes. Not a fuzz test (see `decoder_props.rs`).

use cpmd_core::sip::{SipMessage, StatusCode};
use cpmd_core::wire::{decode_message, FrameError, Limits, StreamDecoder};

fn load(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/corpus/stream/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

type Frame = Result<Vec<u8>, FrameError>;

/// Pushes `chunks` one by one, collecting every frame after each push.
fn frames_of(chunks: &[&[u8]]) -> Vec<Frame> {
    let limits = Limits::default();
    let mut dec = StreamDecoder::default();
    let mut out = Vec::new();
    for chunk in chunks {
        dec.push(chunk);
        while let Some(frame) = dec.next_frame(&limits) {
            out.push(frame);
        }
    }
    out
}

/// The frames of `bytes` must be the same however the stream is cut in two.
fn assert_every_split_point(bytes: &[u8], expected: &[Frame]) {
    for cut in 0..=bytes.len() {
        let (a, b) = bytes.split_at(cut);
        assert_eq!(frames_of(&[a, b]), expected, "split at {cut}");
    }
}

fn call_id_and_body(frame: &[u8]) -> (String, Vec<u8>) {
    match decode_message(frame, &Limits::default()) {
        Ok(SipMessage::Request(r)) => (r.headers.call_id.as_str().to_owned(), r.body),
        other => panic!("frame does not decode to a request: {other:?}"),
    }
}

fn cseqs(frames: &[Frame]) -> Vec<u32> {
    frames
        .iter()
        .map(|f| {
            let frame = f.as_ref().expect("a frame");
            decode_message(frame, &Limits::default())
                .expect("frame decodes")
                .headers()
                .cseq
                .seq
        })
        .collect()
}

#[test]
fn stream_01_two_messages_in_one_read() {
    let bytes = load("01-two-messages.stream");
    let frames = frames_of(&[&bytes]);
    assert_eq!(frames.len(), 2);
    assert_eq!(cseqs(&frames), [1, 2]);
    let (call_id, body) = call_id_and_body(frames[1].as_ref().unwrap());
    assert_eq!(call_id, "stream-1");
    assert_eq!(body, b"second\r\n\r\nwith blank line inside");
    let total: usize = frames.iter().map(|f| f.as_ref().unwrap().len()).sum();
    assert_eq!(total, bytes.len(), "frames cover the stream exactly");
    assert_every_split_point(&bytes, &frames);
}

#[test]
fn stream_01_byte_by_byte() {
    let bytes = load("01-two-messages.stream");
    let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(frames_of(&chunks), frames_of(&[&bytes]));
}

#[test]
fn stream_02_keepalives_between_messages() {
    let bytes = load("02-keepalives-between.stream");
    let frames = frames_of(&[&bytes]);
    assert_eq!(cseqs(&frames), [1, 2]);
    assert!(frames[0].as_ref().unwrap().starts_with(b"MESSAGE "));
    assert!(frames[1].as_ref().unwrap().starts_with(b"MESSAGE "));
    assert_every_split_point(&bytes, &frames);
}

#[test]
fn stream_03_compact_l_with_padding() {
    let bytes = load("03-compact-l-padding.stream");
    let frames = frames_of(&[&bytes]);
    assert_eq!(frames.len(), 1);
    let (call_id, body) = call_id_and_body(frames[0].as_ref().unwrap());
    assert_eq!(call_id, "stream-3");
    assert_eq!(body, b"body");
    assert_every_split_point(&bytes, &frames);
}

#[test]
fn stream_04_missing_content_length_kills_the_stream() {
    let bytes = load("04-missing-content-length.stream");
    let frames = frames_of(&[&bytes]);
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert_eq!(cseqs(&frames[..1]), [1]);
    assert_eq!(frames[1], Err(FrameError::MissingContentLength));
    assert_eq!(
        FrameError::MissingContentLength.status(),
        StatusCode::BAD_REQUEST
    );
    assert_every_split_point(&bytes, &frames);
}

#[test]
fn stream_05_bare_lf_message() {
    let bytes = load("05-bare-lf.stream");
    let frames = frames_of(&[&bytes]);
    assert_eq!(frames.len(), 2);
    assert!(frames[0].as_ref().unwrap().ends_with(b"\n\na\n"));
    let (call_id, body) = call_id_and_body(frames[0].as_ref().unwrap());
    assert_eq!(
        (call_id.as_str(), body.as_slice()),
        ("stream-5", &b"a\n"[..])
    );
    assert_eq!(cseqs(&frames), [5, 1]);
    assert_every_split_point(&bytes, &frames);
}

#[test]
fn stream_oversized_head_and_body_are_fatal() {
    let limits = Limits {
        max_header_bytes: 100,
        max_body_bytes: 10,
        ..Limits::default()
    };
    let mut dec = StreamDecoder::default();
    dec.push(&[b'a'; 101]);
    let e = dec.next_frame(&limits).unwrap().unwrap_err();
    assert_eq!(e, FrameError::HeadersTooLarge { limit: 100 });
    assert_eq!(e.status(), StatusCode::MESSAGE_TOO_LARGE);
    assert!(dec.is_failed());
    assert_eq!(dec.next_frame(&limits), None);

    let mut dec = StreamDecoder::default();
    dec.push(b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 11\r\n\r\n");
    let e = dec.next_frame(&limits).unwrap().unwrap_err();
    assert_eq!(
        e,
        FrameError::BodyTooLarge {
            length: 11,
            limit: 10
        }
    );
    assert_eq!(e.status(), StatusCode::REQUEST_ENTITY_TOO_LARGE);
}

#[test]
fn stream_many_small_messages_in_one_push() {
    let one = load("03-compact-l-padding.stream");
    let bytes: Vec<u8> = (0..500).flat_map(|_| one.iter().copied()).collect();
    let frames = frames_of(&[&bytes]);
    assert_eq!(frames.len(), 500);
    assert!(frames.iter().all(|f| f.as_deref() == Ok(&one[..])));
}
