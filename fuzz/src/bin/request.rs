//! The accept stage's reading of a request body (`wire::object::RawObject` and
//! `wire::validate::check`), as the gateway and the simulator read every chat, fill-in-the-middle
//! and embeddings request: any bytes parse to an object or a JSON error, and an object passes or
//! fails the checks naming a field, never a panic. An object written back parses to the same
//! fields, so what the gateway forwards is what it read.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::object::RawObject;
use wire::validate::{Endpoint, check};

fuzz_target!(|data: &[u8]| {
    let Ok(object) = RawObject::parse(data) else {
        return;
    };
    for endpoint in [Endpoint::Chat, Endpoint::Fim, Endpoint::Embeddings] {
        if let Err(invalid) = check(endpoint, &object) {
            assert!(!invalid.param.is_empty() && !invalid.message.is_empty());
        }
    }
    let written = object.to_vec();
    let again = RawObject::parse(&written).expect("a written object parses");
    assert_eq!(again.to_vec(), written);
});
