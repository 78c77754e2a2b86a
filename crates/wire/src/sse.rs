//! Server-sent events framing as OpenAI streams use it: `data: <json>\n\n`, ended by `data: [DONE]`.

/// The terminating event of an OpenAI stream.
pub const DONE: &[u8] = b"data: [DONE]\n\n";

/// Frames one JSON payload as an SSE event.
pub fn event(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() + 8);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(json);
    out.extend_from_slice(b"\n\n");
    out
}

/// Splits a byte buffer into complete SSE events, returning them and the unconsumed remainder's start.
///
/// Events end with a blank line (`\n\n`, or `\r\n\r\n`). Partial events stay in the buffer for the next
/// read; the relay must never cut an event in two or a caller's SDK would see broken JSON.
pub fn split_events(buf: &[u8]) -> (Vec<&[u8]>, usize) {
    let mut events = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + 1 < buf.len() {
        if buf[i] == b'\n' && buf[i + 1] == b'\n' {
            events.push(&buf[start..i + 2]);
            start = i + 2;
            i += 2;
        } else if buf[i] == b'\r' && i + 3 < buf.len() && &buf[i..i + 4] == b"\r\n\r\n" {
            events.push(&buf[start..i + 4]);
            start = i + 4;
            i += 4;
        } else {
            i += 1;
        }
    }
    (events, start)
}

/// The `data:` payload of one event, joined over multiple `data:` lines, without the trailing newline.
pub fn data_of(event: &[u8]) -> Option<Vec<u8>> {
    let mut data: Option<Vec<u8>> = None;
    for line in event.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(rest) = line.strip_prefix(b"data:") {
            let rest = rest.strip_prefix(b" ").unwrap_or(rest);
            match &mut data {
                Some(d) => {
                    d.push(b'\n');
                    d.extend_from_slice(rest);
                }
                None => data = Some(rest.to_vec()),
            }
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_complete_events_and_keeps_the_partial_one() {
        let buf = b"data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: {\"c\"";
        let (events, rest) = split_events(buf);
        assert_eq!(events.len(), 2);
        assert_eq!(data_of(events[1]).as_deref(), Some(&b"{\"b\":2}"[..]));
        assert_eq!(&buf[rest..], b"data: {\"c\"");
    }

    #[test]
    fn handles_crlf_framing() {
        let (events, rest) = split_events(b"data: x\r\n\r\ndata: y\r\n\r\n");
        assert_eq!(events.len(), 2);
        assert_eq!(rest, 22);
        assert_eq!(data_of(events[0]).as_deref(), Some(&b"x"[..]));
    }
}
