//! Tests of `gcra`.

use super::*;
