//! The configuration loader (`configuration::Config::from_toml`): any text gives a validated
//! `Config` or errors that print, never a panic. Every environment variable a file names is set,
//! so validation goes past credential look-ups.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = |_: &str| Some("fuzz-credential-of-32-characters-x".to_owned());
    if let Err(errors) = configuration::Config::from_toml(text, "fabrique.toml", &env) {
        let _ = errors.to_string();
    }
});
