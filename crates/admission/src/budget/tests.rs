//! Tests of `budget`.

use super::*;
