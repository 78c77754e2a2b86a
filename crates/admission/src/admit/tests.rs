//! Tests of `admit`.

use super::*;
