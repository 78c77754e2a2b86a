//! The server-sent-events framing the relay reads every backend stream with (`wire::sse`): any
//! bytes split into complete events and a remainder that together are the input, the iterator
//! agrees with the collecting split, and every event's data reads, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (events, rest) = wire::sse::split_events(data);
    let joined: Vec<u8> = events.concat();
    assert_eq!(joined.as_slice(), &data[..rest]);
    assert!(wire::sse::events(data).eq(events.iter().copied()));
    for event in events {
        let borrowed = wire::sse::data(event);
        assert_eq!(borrowed.as_deref().map(<[u8]>::to_vec), wire::sse::data_of(event));
    }
});
