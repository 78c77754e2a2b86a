//! Server-sent events framing as OpenAI streams use it: `data: <json>\n\n`, ended by `data: [DONE]`.

use std::borrow::Cow;

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
    let mut events = Events { buf, start: 0 };
    let list = events.by_ref().collect();
    (list, events.start)
}

/// The complete events of `buf`, as [`split_events`] finds them, without collecting them.
pub fn events(buf: &[u8]) -> Events<'_> {
    Events { buf, start: 0 }
}

/// An iterator over the complete events of a buffer.
#[derive(Debug, Clone)]
pub struct Events<'a> {
    buf: &'a [u8],
    /// Where the next event starts: after the iteration, where the unconsumed remainder starts.
    start: usize,
}

impl<'a> Iterator for Events<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let buf = self.buf;
        let mut i = self.start;
        while i + 1 < buf.len() {
            let end = if buf[i] == b'\n' && buf[i + 1] == b'\n' {
                i + 2
            } else if buf[i] == b'\r' && i + 3 < buf.len() && &buf[i..i + 4] == b"\r\n\r\n" {
                i + 4
            } else {
                i += 1;
                continue;
            };
            let event = &buf[self.start..end];
            self.start = end;
            return Some(event);
        }
        None
    }
}

/// The `data:` payload of one event, joined over multiple `data:` lines, without the trailing newline.
pub fn data_of(event: &[u8]) -> Option<Vec<u8>> {
    data(event).map(Cow::into_owned)
}

/// [`data_of`], borrowed from the event when it has one `data:` line (as OpenAI streams do).
pub fn data(event: &[u8]) -> Option<Cow<'_, [u8]>> {
    let mut data: Option<Cow<'_, [u8]>> = None;
    for line in event.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(rest) = line.strip_prefix(b"data:") {
            let rest = rest.strip_prefix(b" ").unwrap_or(rest);
            match &mut data {
                Some(joined) => {
                    let joined = joined.to_mut();
                    joined.push(b'\n');
                    joined.extend_from_slice(rest);
                }
                None => data = Some(Cow::Borrowed(rest)),
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
    fn one_data_line_is_borrowed_and_several_are_joined() {
        assert!(matches!(data(b"data: x\n\n"), Some(Cow::Borrowed(b"x"))));
        assert_eq!(data(b"data: a\ndata: b\n\n").as_deref(), Some(&b"a\nb"[..]));
        assert_eq!(data(b": comment\n\n"), None);
        let buf = b"data: 1\n\ndata: 2\r\n\r\ndata: 3";
        assert_eq!(events(buf).count(), 2);
    }

    #[test]
    fn handles_crlf_framing() {
        let (events, rest) = split_events(b"data: x\r\n\r\ndata: y\r\n\r\n");
        assert_eq!(events.len(), 2);
        assert_eq!(rest, 22);
        assert_eq!(data_of(events[0]).as_deref(), Some(&b"x"[..]));
    }
}
