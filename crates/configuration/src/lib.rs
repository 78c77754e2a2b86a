//! Configuration file: TOML parsed, validated and typed once, every error reported together.
