//! Tests of `rate`.

use super::*;
