//! Tests of `period`.

use super::*;
